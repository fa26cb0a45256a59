//! Reading and writing NONMEM-style CSV datasets (docs/domain.md §2).
//!
//! [`parse_dataset`] turns the text of a data file into a [`Dataset`], checking each row the way
//! NONMEM's NM-TRAN and PREDPP would and naming the file and line of the first problem.
//! [`write_dataset`] writes a dataset back as text that parses to the same records.
//!
//! The reader accepts the dialects found in real files: header names in any case and optionally
//! quoted, `.` or an empty field for a missing value, a comment column `C` (NONMEM's `IGNORE=C`),
//! `#` comment lines, and rxode2's classic event codes 101 (bolus into compartment 1) and 10101
//! (infusion into compartment 1), which become ordinary NONMEM dose records.
//!
//! ```
//! use twin_engine::nmcsv::{parse_dataset, write_dataset};
//!
//! let text = "ID,TIME,AMT,DV,WT\n1,0,100,.,70\n1,2,0,3.5,.\n";
//! let dataset = parse_dataset("example.csv", text)?;
//! assert_eq!(dataset.subjects[0].records.len(), 2);
//! assert_eq!(dataset.subjects[0].records[1].dv, Some(3.5));
//! let written = write_dataset(&dataset);
//! assert!(written.starts_with("ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,II,ADDL,SS,WT\n"));
//! # Ok::<(), twin_engine::EngineError>(())
//! ```

use std::collections::BTreeMap;

use crate::csv::Missing;
use crate::error::EngineError;
use crate::records::{Dataset, DoseRate, Evid, MAX_DOSES_PER_RECORD, Record, SteadyState, Subject};

/// Column names with a fixed meaning; every other column is a covariate.
const STANDARD_COLUMNS: [&str; 11] = [
    "ID", "TIME", "DV", "MDV", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS",
];

/// The comment column: a row whose value here is not `.` or empty is skipped (NONMEM `IGNORE=C`).
const COMMENT_COLUMN: &str = "C";

/// rxode2's classic code for a bolus dose into compartment 1.
const RXODE2_BOLUS_CMT1: i64 = 101;

/// rxode2's classic code for a rate infusion into compartment 1.
const RXODE2_INFUSION_CMT1: i64 = 10101;

/// The marker the simulated datasets of Schoemaker et al. (CPT Pharmacometrics Syst Pharmacol
/// 2019, as distributed in nlmixr2data; e.g. `testdata/third_party/nlmixr2data/Bolus_1CPT.csv`)
/// write in SS on every row of the single- and multiple-dose parts of a profile, observations
/// included, while the one steady-state dose has SS 1 and the rows after it SS 0. It is not a
/// NONMEM code (NM-TRAN rejects it) and none of those rows is a steady-state dose, so it is read
/// as SS 0 ("not applicable"). Every other SS value outside 0–3 stays an error.
const SS_NOT_APPLICABLE: i64 = 99;

/// Relative tolerance for two rates written in a file to count as the same rate. Files written by
/// R print 15 significant digits, so 1e-9 is far above rounding noise and far below any real
/// difference between two infusion rates.
const RATE_MATCH_TOL: f64 = 1e-9;

/// Reads a NONMEM-style CSV dataset.
///
/// `source` names the text (usually its file path) in error messages and in
/// [`Dataset::source`]. The rules, following NONMEM (docs/domain.md §2):
///
/// - The first line that is neither blank nor starts with `#` is the header. Names are
///   case-insensitive and may be double-quoted. `ID` and `TIME` are required; `DV`, `MDV`,
///   `EVID`, `AMT`, `CMT`, `RATE`, `II`, `ADDL` and `SS` are optional; a column `C` marks comment
///   rows; every other column is a covariate, named upper-case in
///   [`Dataset::covariate_names`].
/// - Blank lines and lines starting with `#` are skipped, as are rows whose `C` field is neither
///   `.` nor empty. Fields may be double-quoted (`""` inside quotes is one quote).
/// - `.` or an empty field is a missing value. Missing `AMT`, `RATE`, `II`, `ADDL`, `SS` are 0;
///   a missing `CMT` (or 0) means the model's default compartment ([`Record::cmt`] `None`); a
///   missing `MDV` is 1 except on an observation with a `DV`; a missing `EVID` is 1 when
///   `AMT > 0` and 0 otherwise (as NM-TRAN supplies it). `ID` and `TIME` must be present.
/// - A missing covariate value is carried forward from the subject's previous record; before
///   the subject's first value, it takes that first value (back-fill); a covariate the subject
///   never has is NaN.
/// - [`Record::dv`] is `Some` only on observation records (EVID 0) with `MDV` 0 and a `DV`.
/// - SS 99 is read as SS 0: it is the "not applicable" marker of the simulated datasets of
///   Schoemaker et al. (2019) in nlmixr2data, written on rows that are not steady-state doses.
/// - rxode2's classic EVID 101 is a bolus into compartment 1. EVID 10101 is rxode2's classic
///   infusion into compartment 1, where `AMT` holds the *rate*: a row with `AMT` r > 0 starts
///   the infusion and a later 10101 row of the subject with `AMT` −r stops it. The pair becomes
///   one dose record (EVID 1, compartment 1, `RATE` r, `AMT` r × duration) at the start row's
///   line; the stop row is dropped.
///
/// # Errors
/// [`EngineError::Input`] naming `source`, the line and what was found against what was
/// expected, for: no header; a header and no data row; a missing `ID` or `TIME` column; a column name given twice or
/// empty; a row with a different number of fields than the header; a field that is not a
/// finite number (except `ID`); a missing `ID` or `TIME` value; TIME going backwards within a
/// subject other than on a reset record (EVID 3 or 4); a subject whose rows are not
/// contiguous; EVID other than 0–4, 101 or 10101; SS other than 0–3 (or the marker 99, see above);
/// RATE negative but not −1
/// or −2; MDV other than 0 or 1; a negative, fractional or negative-compartment (turn-off) CMT;
/// a negative AMT or II; a negative or fractional ADDL, or one of [`MAX_DOSES_PER_RECORD`] or
/// more; ADDL > 0 with II 0; a last additional dose (TIME + II × ADDL) beyond the finite
/// numbers; a dose (EVID 1 or
/// 4) with AMT 0, or with SS ≠ 0 and II 0, unless it is a steady-state constant infusion
/// (SS 1, RATE > 0, II 0, AMT 0); AMT > 0 on a record that is not a dose; an rxode2 EVID 101
/// or 10101 row whose CMT or RATE contradicts its code, a 10101 infusion that is not both
/// started and stopped, or one whose amount (rate × duration) is not a finite number.
pub fn parse_dataset(source: &str, text: &str) -> Result<Dataset, EngineError> {
    let mut reader = SubjectReader::new(source);
    let mut subjects = Vec::new();
    for (line_idx, line) in text.lines().enumerate() {
        if let Some(subject) = reader.push_line(line_idx + 1, line)? {
            subjects.push(subject);
        }
    }
    subjects.extend(reader.finish()?);
    Ok(Dataset {
        source: source.to_owned(),
        covariate_names: reader.covariate_names().to_vec(),
        subjects,
    })
}

/// Reads a NONMEM-style CSV dataset one line at a time and hands back each subject as soon as
/// its last row has been read, so a caller can process a dataset larger than memory subject by
/// subject (`twin predict` does). The rules and errors are those of [`parse_dataset`], which is
/// this reader applied to a whole text; the reader holds one subject's rows and the IDs seen so
/// far (to refuse a subject whose rows are not contiguous).
///
/// ```
/// use twin_engine::nmcsv::SubjectReader;
///
/// let mut reader = SubjectReader::new("example.csv");
/// let mut ids = Vec::new();
/// for (idx, line) in "ID,TIME,AMT\n1,0,100\n2,0,50\n".lines().enumerate() {
///     ids.extend(reader.push_line(idx + 1, line)?.map(|subject| subject.id));
/// }
/// ids.extend(reader.finish()?.map(|subject| subject.id));
/// assert_eq!(ids, ["1", "2"]);
/// # Ok::<(), twin_engine::EngineError>(())
/// ```
#[derive(Debug)]
pub struct SubjectReader {
    /// Name of the text in error messages.
    source: String,
    /// The header's line number and layout, once read.
    header: Option<(usize, Layout)>,
    /// The ID and rows of the subject being read.
    current: Option<(String, Vec<Row>)>,
    /// The last line of each subject seen so far, to report non-contiguous IDs.
    last_line_of_id: BTreeMap<String, usize>,
}

impl SubjectReader {
    /// A reader of the text called `source` (usually its file path) in error messages.
    #[must_use]
    pub fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            header: None,
            current: None,
            last_line_of_id: BTreeMap::new(),
        }
    }

    /// Upper-cased names of the covariate columns, in file order (empty before the header).
    #[must_use]
    pub fn covariate_names(&self) -> &[String] {
        self.header
            .as_ref()
            .map_or(&[], |(_, layout)| layout.covariate_names.as_slice())
    }

    /// Reads line number `line_no` (one-based) of the text, without its line ending. Returns the
    /// previous subject, complete, when this line starts a new one.
    ///
    /// # Errors
    /// As [`parse_dataset`], for the header or this row.
    pub fn push_line(
        &mut self,
        line_no: usize,
        line: &str,
    ) -> Result<Option<Subject>, EngineError> {
        let line = if line_no == 1 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if is_skipped_line(line) {
            return Ok(None);
        }
        let Some((header_line, layout)) = &self.header else {
            self.header = Some((line_no, Layout::parse(&self.source, line_no, line)?));
            return Ok(None);
        };
        let source = self.source.as_str();
        let fields = split_fields(line).map_err(|msg| EngineError::input(source, line_no, msg))?;
        if layout.is_comment_row(&fields) {
            return Ok(None);
        }
        if fields.len() != layout.n_fields {
            return Err(EngineError::input(
                source,
                line_no,
                format!(
                    "found {} fields, expected {} as in the header on line {header_line}",
                    fields.len(),
                    layout.n_fields
                ),
            ));
        }
        let (id, row) = parse_row(source, line_no, layout, &fields)?;
        let mut finished = None;
        match &mut self.current {
            Some((current_id, rows)) if *current_id == id => {
                if let Some(previous) = rows.last()
                    && row.record.time < previous.record.time
                    && !row.record.evid.is_reset()
                {
                    return Err(EngineError::input(
                        source,
                        line_no,
                        format!(
                            "TIME {} of ID {id} is earlier than TIME {} on line {}; TIME may go \
                             back only on a reset record (EVID 3 or 4)",
                            row.record.time, previous.record.time, previous.line
                        ),
                    ));
                }
                rows.push(row);
            }
            _ => {
                if let Some(&last_line) = self.last_line_of_id.get(&id) {
                    return Err(EngineError::input(
                        source,
                        line_no,
                        format!(
                            "ID {id} appears again after other subjects' rows (its earlier rows \
                             end on line {last_line}); expected the rows of each subject to be \
                             contiguous"
                        ),
                    ));
                }
                let n_covariates = layout.covariates.len();
                if let Some((previous_id, rows)) = self.current.replace((id.clone(), vec![row])) {
                    finished = Some(finish_subject(source, previous_id, rows, n_covariates)?);
                }
            }
        }
        self.last_line_of_id.insert(id, line_no);
        Ok(finished)
    }

    /// Ends the text and returns its last subject.
    ///
    /// # Errors
    /// As [`parse_dataset`] for the last subject; also when the text had no header, or a header
    /// and no data row (every row blank, a comment or a `C` comment row): a dataset with no record
    /// has nothing to simulate, predict or fit.
    pub fn finish(&mut self) -> Result<Option<Subject>, EngineError> {
        let Some((header_line, layout)) = &self.header else {
            return Err(EngineError::input(
                &self.source,
                0,
                "no header row: the text is empty or has only blank and `#` comment lines; \
                 expected a header such as ID,TIME,AMT,DV",
            ));
        };
        match self.current.take() {
            Some((id, rows)) => {
                finish_subject(&self.source, id, rows, layout.covariates.len()).map(Some)
            }
            None if self.last_line_of_id.is_empty() => Err(EngineError::input(
                &self.source,
                *header_line,
                "the header is followed by no data row (only blank, `#` or `C` comment lines); \
                 expected at least one record",
            )),
            None => Ok(None),
        }
    }
}

/// Writes a dataset as NONMEM-style CSV text.
///
/// The columns are `ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,II,ADDL,SS` followed by the covariates in
/// [`Dataset::covariate_names`] order, one line per record, each line ending in `\n`. Missing
/// values (a `None` DV or CMT, a NaN covariate) are written as `.`; MDV is 0 exactly on the
/// records with a DV; CMT is written one-based. Numbers use Rust's shortest representation that
/// reads back to the same `f64`, with no `.0` on whole numbers (`100`, `0.1`, `1e-7`). IDs and
/// names that contain commas, quotes or surrounding spaces are double-quoted.
///
/// [`parse_dataset`] reads the text back to an equal dataset apart from [`Dataset::source`] and
/// [`Record::line`], provided the dataset is one the reader could have produced: for example
/// covariates are NaN only where a subject never has a value, and no subject is empty.
#[must_use]
pub fn write_dataset(dataset: &Dataset) -> String {
    let mut out = String::new();
    let header: Vec<String> = STANDARD_COLUMNS
        .iter()
        .map(|name| (*name).to_owned())
        .chain(
            dataset
                .covariate_names
                .iter()
                .map(|name| quote_if_needed(name)),
        )
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for subject in &dataset.subjects {
        let id = quote_if_needed(&subject.id);
        for record in &subject.records {
            let mut fields = vec![
                id.clone(),
                format_number(record.time),
                format_number(record.dv.unwrap_or(f64::NAN)),
                if record.dv.is_some() { "0" } else { "1" }.to_owned(),
                record.evid.code().to_string(),
                format_number(record.amt),
                record
                    .cmt
                    .map_or_else(|| ".".to_owned(), |cmt| (cmt + 1).to_string()),
                format_number(record.rate.value()),
                format_number(record.ii),
                record.addl.to_string(),
                record.ss.code().to_string(),
            ];
            fields.extend(record.covariates.iter().map(|&value| format_number(value)));
            out.push_str(&fields.join(","));
            out.push('\n');
        }
    }
    out
}

/// Where each column of the file is, from its header.
#[derive(Debug)]
struct Layout {
    /// Number of fields every data row must have.
    n_fields: usize,
    /// Column of `ID`.
    id: usize,
    /// Column of `TIME`.
    time: usize,
    /// Column of `DV`, if any.
    dv: Option<usize>,
    /// Column of `MDV`, if any.
    mdv: Option<usize>,
    /// Column of `EVID`, if any.
    evid: Option<usize>,
    /// Column of `AMT`, if any.
    amt: Option<usize>,
    /// Column of `CMT`, if any.
    cmt: Option<usize>,
    /// Column of `RATE`, if any.
    rate: Option<usize>,
    /// Column of `II`, if any.
    ii: Option<usize>,
    /// Column of `ADDL`, if any.
    addl: Option<usize>,
    /// Column of `SS`, if any.
    ss: Option<usize>,
    /// Column of the comment marker `C`, if any.
    comment: Option<usize>,
    /// Columns of the covariates, in file order.
    covariates: Vec<usize>,
    /// Upper-cased names of the covariates, in file order.
    covariate_names: Vec<String>,
}

impl Layout {
    /// Reads the header line.
    fn parse(source: &str, line_no: usize, line: &str) -> Result<Self, EngineError> {
        let names = split_fields(line).map_err(|msg| EngineError::input(source, line_no, msg))?;
        let mut positions: BTreeMap<String, usize> = BTreeMap::new();
        let mut covariates = Vec::new();
        let mut covariate_names = Vec::new();
        for (column_idx, raw_name) in names.iter().enumerate() {
            let name = raw_name.to_uppercase();
            if name.is_empty() {
                return Err(EngineError::input(
                    source,
                    line_no,
                    format!(
                        "column {} of the header has no name; expected a name such as ID, TIME \
                         or WT",
                        column_idx + 1
                    ),
                ));
            }
            if let Some(first_idx) = positions.insert(name.clone(), column_idx) {
                return Err(EngineError::input(
                    source,
                    line_no,
                    format!(
                        "column {name} is named twice (columns {} and {}); expected each column \
                         name once, ignoring case",
                        first_idx + 1,
                        column_idx + 1
                    ),
                ));
            }
            if name != COMMENT_COLUMN && !STANDARD_COLUMNS.contains(&name.as_str()) {
                covariates.push(column_idx);
                covariate_names.push(name);
            }
        }
        let required = |name: &str| {
            positions.get(name).copied().ok_or_else(|| {
                EngineError::input(
                    source,
                    line_no,
                    format!(
                        "missing required column {name}; found columns [{}], expected a \
                         comma-separated header with at least ID and TIME",
                        names.join(", ")
                    ),
                )
            })
        };
        let id = required("ID")?;
        let time = required("TIME")?;
        let optional = |name: &str| positions.get(name).copied();
        Ok(Self {
            n_fields: names.len(),
            id,
            time,
            dv: optional("DV"),
            mdv: optional("MDV"),
            evid: optional("EVID"),
            amt: optional("AMT"),
            cmt: optional("CMT"),
            rate: optional("RATE"),
            ii: optional("II"),
            addl: optional("ADDL"),
            ss: optional("SS"),
            comment: optional(COMMENT_COLUMN),
            covariates,
            covariate_names,
        })
    }

    /// Whether the row is a comment row: its `C` field holds something other than `.`.
    fn is_comment_row(&self, fields: &[String]) -> bool {
        self.comment
            .and_then(|column| fields.get(column))
            .is_some_and(|value| !is_missing(value))
    }
}

/// The role of a row in rxode2's classic infusion coding (EVID 10101).
#[derive(Debug, Clone, Copy)]
enum Rxode2Infusion {
    /// Not an rxode2 infusion row.
    No,
    /// Starts an infusion at the record's rate.
    Start,
    /// Stops an infusion of this rate.
    Stop(f64),
}

/// One data row before covariates are filled and rxode2 infusions are paired.
#[derive(Debug)]
struct Row {
    /// The one-based line number.
    line: usize,
    /// The record, with empty covariates.
    record: Record,
    /// The covariate values as written, `None` when missing.
    covariates: Vec<Option<f64>>,
    /// The row's role in rxode2's infusion coding.
    infusion: Rxode2Infusion,
}

/// What the EVID column says a row is.
#[derive(Debug, Clone, Copy)]
enum EventCode {
    /// A NONMEM event (0–4, or supplied from AMT when EVID is missing).
    Nonmem(Evid),
    /// rxode2's 101: bolus into compartment 1.
    Rxode2Bolus,
    /// rxode2's 10101: start or stop of an infusion into compartment 1.
    Rxode2Infusion,
}

/// Parses and checks one data row, returning its subject ID and the row.
fn parse_row(
    source: &str,
    line_no: usize,
    layout: &Layout,
    fields: &[String],
) -> Result<(String, Row), EngineError> {
    let err = |msg: String| EngineError::input(source, line_no, msg);
    let number = |column: usize, name: &str| -> Result<Option<f64>, EngineError> {
        parse_number(&fields[column], name).map_err(err)
    };
    let optional = |column: Option<usize>, name: &str| -> Result<Option<f64>, EngineError> {
        Ok(match column {
            Some(column) => number(column, name)?,
            None => None,
        })
    };

    let id = fields[layout.id].clone();
    if is_missing(&id) {
        return Err(err(format!(
            "ID is `{id}`; expected a subject identifier on every row"
        )));
    }
    let time = number(layout.time, "TIME")?
        .ok_or_else(|| err("TIME is missing; expected the event time on every row".to_owned()))?;
    let dv = optional(layout.dv, "DV")?;
    let mdv = optional(layout.mdv, "MDV")?;
    let evid_value = optional(layout.evid, "EVID")?;
    let mut amt = optional(layout.amt, "AMT")?.unwrap_or(0.0);
    let cmt_value = optional(layout.cmt, "CMT")?;
    let rate_value = optional(layout.rate, "RATE")?;
    let ii = optional(layout.ii, "II")?.unwrap_or(0.0);
    let addl_value = optional(layout.addl, "ADDL")?.unwrap_or(0.0);
    let ss_value = match optional(layout.ss, "SS")? {
        // The "not applicable" marker of the Schoemaker et al. simulated sets: no steady state.
        Some(value) if as_integer(value) == Some(SS_NOT_APPLICABLE) => 0.0,
        Some(value) => value,
        None => 0.0,
    };
    let covariates = layout
        .covariates
        .iter()
        .zip(&layout.covariate_names)
        .map(|(&column, name)| number(column, name))
        .collect::<Result<Vec<_>, _>>()?;

    let code = match evid_value {
        // NM-TRAN supplies EVID from AMT when the column is absent.
        None if amt > 0.0 => EventCode::Nonmem(Evid::Dose),
        None => EventCode::Nonmem(Evid::Observation),
        Some(value) if as_integer(value) == Some(RXODE2_BOLUS_CMT1) => EventCode::Rxode2Bolus,
        Some(value) if as_integer(value) == Some(RXODE2_INFUSION_CMT1) => EventCode::Rxode2Infusion,
        Some(value) => EventCode::Nonmem(Evid::from_code(value).map_err(|_| {
            err(format!(
                "EVID {value} is not supported; expected 0 (observation), 1 (dose), 2 (other), \
                 3 (reset), 4 (reset and dose), or rxode2's classic 101 (bolus into compartment \
                 1) or 10101 (infusion into compartment 1)"
            ))
        })?),
    };
    let evid = match code {
        EventCode::Nonmem(evid) => evid,
        EventCode::Rxode2Bolus | EventCode::Rxode2Infusion => Evid::Dose,
    };

    let mut cmt = match cmt_value {
        None => None,
        Some(value) => match as_integer(value) {
            Some(0) => None,
            Some(one_based) if one_based > 0 => {
                Some(usize::try_from(one_based - 1).map_err(|_| {
                    err(format!(
                        "CMT {value} is too large; expected a compartment number"
                    ))
                })?)
            }
            Some(_) => {
                return Err(err(format!(
                    "CMT {value} is negative: turning a compartment off is not supported; \
                     expected a positive compartment number, or 0 or `.` for the default"
                )));
            }
            None => {
                return Err(err(format!(
                    "CMT {value} is not a whole number; expected a compartment number"
                )));
            }
        },
    };

    let mut infusion = Rxode2Infusion::No;
    let rate = match code {
        EventCode::Nonmem(_) => DoseRate::from_value(rate_value.unwrap_or(0.0)).map_err(err)?,
        EventCode::Rxode2Bolus => {
            check_rxode2_cmt(cmt, RXODE2_BOLUS_CMT1).map_err(err)?;
            cmt = Some(0);
            if rate_value.is_some_and(|rate| rate.abs() > 0.0) {
                return Err(err(format!(
                    "RATE {} on an rxode2 EVID 101 row, which is a bolus; expected RATE 0 or \
                     `.`, or EVID 10101 for an infusion",
                    rate_value.unwrap_or(0.0)
                )));
            }
            DoseRate::Bolus
        }
        EventCode::Rxode2Infusion => {
            check_rxode2_cmt(cmt, RXODE2_INFUSION_CMT1).map_err(err)?;
            cmt = Some(0);
            // In rxode2's classic coding, AMT holds the infusion rate; a RATE column, if
            // filled in, must agree with it.
            if let Some(rate) = rate_value
                && (rate - amt).abs() > RATE_MATCH_TOL * amt.abs()
            {
                return Err(err(format!(
                    "RATE {rate} differs from AMT {amt} on an rxode2 EVID 10101 row; in rxode2's \
                     classic coding AMT is the infusion rate, so expected RATE equal to AMT or `.`"
                )));
            }
            if amt > 0.0 {
                infusion = Rxode2Infusion::Start;
                DoseRate::Rate(amt)
            } else if amt < 0.0 {
                infusion = Rxode2Infusion::Stop(-amt);
                amt = 0.0;
                DoseRate::Bolus
            } else {
                return Err(err(
                    "AMT 0 on an rxode2 EVID 10101 row; expected the infusion rate (positive to \
                     start the infusion, negative to stop it)"
                        .to_owned(),
                ));
            }
        }
    };

    if !matches!(code, EventCode::Rxode2Infusion) && amt < 0.0 {
        return Err(err(format!(
            "AMT {amt} is negative; expected a dose amount ≥ 0"
        )));
    }
    if ii < 0.0 {
        return Err(err(format!(
            "II {ii} is negative; expected an interdose interval ≥ 0"
        )));
    }
    let whole = addl_value >= 0.0 && addl_value.fract().abs() <= 0.0;
    if !whole {
        return Err(err(format!(
            "ADDL {addl_value} is not a non-negative whole number; expected the number of \
             additional doses (0, 1, 2, …)"
        )));
    }
    let addl = as_integer(addl_value)
        .and_then(|addl| u32::try_from(addl).ok())
        .filter(|&addl| addl < MAX_DOSES_PER_RECORD)
        .ok_or_else(|| {
            err(format!(
                "ADDL {addl_value} is above the limit of {} additional doses \
                 ({MAX_DOSES_PER_RECORD} doses in one record); expected fewer, or the doses \
                 split over several records",
                MAX_DOSES_PER_RECORD - 1
            ))
        })?;
    let ss = SteadyState::from_code(ss_value).map_err(|msg| {
        err(format!(
            "{msg}; expected 0 (none), 1 (reset to steady state), 2 (add steady state) or 3 \
             (steady state seeded by the current state)"
        ))
    })?;
    let mdv_flag = match mdv {
        None => !matches!(evid, Evid::Observation) || dv.is_none(),
        Some(value) => match as_integer(value) {
            Some(0) => false,
            Some(1) => true,
            _ => {
                return Err(err(format!(
                    "MDV {value} is not supported; expected 0 (DV is an observation) or 1 (DV is \
                     missing or ignored)"
                )));
            }
        },
    };

    if addl > 0 && ii <= 0.0 {
        return Err(err(format!(
            "ADDL {addl} with II {ii}; additional doses need an interdose interval II > 0"
        )));
    }
    let last_dose = time + ii * f64::from(addl);
    if !last_dose.is_finite() {
        return Err(err(format!(
            "the last additional dose falls at TIME + II × ADDL = {time} + {ii} × {addl}, which \
             is not a finite number; expected a smaller II or ADDL"
        )));
    }
    if evid.is_dose() && !matches!(infusion, Rxode2Infusion::Stop(_)) {
        // NONMEM's steady-state constant infusion: AMT 0, RATE > 0, II 0, SS 1.
        let constant_infusion_shape = matches!(rate, DoseRate::Rate(_)) && ii <= 0.0 && amt <= 0.0;
        if !matches!(ss, SteadyState::No) && ii <= 0.0 && !constant_infusion_shape {
            return Err(err(format!(
                "SS {} on a dose with II {ii}; a steady-state dose needs an interdose interval \
                 II > 0, except a steady-state constant infusion (SS 1, AMT 0, RATE > 0, II 0)",
                ss.code()
            )));
        }
        if amt <= 0.0 && !(constant_infusion_shape && matches!(ss, SteadyState::Reset)) {
            return Err(err(format!(
                "AMT {amt} on a dose record (EVID {}); expected a dose amount > 0 (AMT 0 is \
                 allowed only for a steady-state constant infusion: SS 1, RATE > 0, II 0)",
                evid.code()
            )));
        }
    } else if !evid.is_dose() && amt > 0.0 {
        return Err(err(format!(
            "AMT {amt} on a record with EVID {}, which is not a dose; expected AMT 0, or EVID 1 \
             or 4 to give the dose",
            evid.code()
        )));
    }

    let record = Record {
        time,
        evid,
        amt,
        cmt,
        rate,
        ii,
        addl,
        ss,
        dv: if matches!(evid, Evid::Observation) && !mdv_flag {
            dv
        } else {
            None
        },
        covariates: Vec::with_capacity(covariates.len()),
        line: line_no,
    };
    Ok((
        id,
        Row {
            line: line_no,
            record,
            covariates,
            infusion,
        },
    ))
}

/// Checks that the CMT of an rxode2 classic row agrees with its code, which names compartment 1.
fn check_rxode2_cmt(cmt: Option<usize>, code: i64) -> Result<(), String> {
    match cmt {
        None | Some(0) => Ok(()),
        Some(zero_based) => Err(format!(
            "CMT {} on an rxode2 EVID {code} row, whose code gives compartment 1; expected CMT \
             1, 0 or `.`",
            zero_based + 1
        )),
    }
}

/// Fills a subject's covariates, pairs its rxode2 infusion rows and builds the [`Subject`].
fn finish_subject(
    source: &str,
    id: String,
    mut rows: Vec<Row>,
    n_covariates: usize,
) -> Result<Subject, EngineError> {
    for covariate_idx in 0..n_covariates {
        // Before the first value, back-fill with it; after, carry the last value forward.
        let mut carried = rows
            .iter()
            .find_map(|row| row.covariates[covariate_idx])
            .unwrap_or(f64::NAN);
        for row in &mut rows {
            if let Some(value) = row.covariates[covariate_idx] {
                carried = value;
            }
            row.record.covariates.push(carried);
        }
    }

    let mut open_infusions: Vec<usize> = Vec::new();
    let mut keep = vec![true; rows.len()];
    for row_idx in 0..rows.len() {
        match rows[row_idx].infusion {
            Rxode2Infusion::No => {}
            Rxode2Infusion::Start => open_infusions.push(row_idx),
            Rxode2Infusion::Stop(rate) => {
                let stop_line = rows[row_idx].line;
                let open_idx = open_infusions
                    .iter()
                    .position(|&start_idx| {
                        (rows[start_idx].record.rate.value() - rate).abs() <= RATE_MATCH_TOL * rate
                    })
                    .ok_or_else(|| {
                        EngineError::input(
                            source,
                            stop_line,
                            format!(
                                "rxode2 EVID 10101 row with AMT -{rate} stops an infusion of \
                                 rate {rate} that was not started; expected an earlier EVID \
                                 10101 row of ID {id} with AMT {rate}"
                            ),
                        )
                    })?;
                let start_idx = open_infusions.remove(open_idx);
                let duration = rows[row_idx].record.time - rows[start_idx].record.time;
                if duration <= 0.0 {
                    return Err(EngineError::input(
                        source,
                        stop_line,
                        format!(
                            "rxode2 EVID 10101 row stops the infusion started on line {} after \
                             a duration of {duration}; expected the stop after the start",
                            rows[start_idx].line
                        ),
                    ));
                }
                let amount = rate * duration;
                if !amount.is_finite() {
                    return Err(EngineError::input(
                        source,
                        stop_line,
                        format!(
                            "rxode2 EVID 10101 infusion started on line {} gives the amount rate × \
                             duration = {rate} × {duration}, which is not a finite number; \
                             expected a smaller rate or a shorter infusion",
                            rows[start_idx].line
                        ),
                    ));
                }
                rows[start_idx].record.amt = amount;
                keep[row_idx] = false;
            }
        }
    }
    if let Some(&start_idx) = open_infusions.first() {
        let rate = rows[start_idx].record.rate.value();
        return Err(EngineError::input(
            source,
            rows[start_idx].line,
            format!(
                "rxode2 EVID 10101 row starts an infusion at rate {rate} that is never stopped; \
                 in rxode2's classic coding AMT is the infusion rate, so expected a later EVID \
                 10101 row of ID {id} with AMT -{rate} (or write the dose as EVID 1 with AMT \
                 and RATE)"
            ),
        ));
    }

    let records = rows
        .into_iter()
        .zip(keep)
        .filter_map(|(row, kept)| kept.then_some(row.record))
        .collect();
    Ok(Subject { id, records })
}

/// Whether a line is skipped entirely: blank, or a `#` comment.
fn is_skipped_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// Whether a field holds a missing value: `.` or nothing.
fn is_missing(field: &str) -> bool {
    field.is_empty() || field == "."
}

/// Splits a CSV line into fields, removing double quotes and the spaces around fields.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    current.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                current.push(c);
            }
        } else {
            match c {
                '"' => in_quotes = true,
                ',' => {
                    fields.push(current.trim().to_owned());
                    current.clear();
                }
                _ => current.push(c),
            }
        }
    }
    if in_quotes {
        return Err(
            "a double quote is not closed; expected quoted fields to end with `\"`".to_owned(),
        );
    }
    fields.push(current.trim().to_owned());
    Ok(fields)
}

/// Parses a numeric field: `None` when missing, an error naming the column when not a finite
/// number.
fn parse_number(field: &str, column: &str) -> Result<Option<f64>, String> {
    if is_missing(field) {
        return Ok(None);
    }
    match field.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(format!(
            "{column} is `{field}`; expected a finite number, or `.` for a missing value"
        )),
    }
}

/// The value as an integer, if it is a whole number of moderate size.
fn as_integer(value: f64) -> Option<i64> {
    // 2^53: beyond it not every integer is representable, and no code or count gets that large.
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    if value.is_finite() && value.fract().abs() <= 0.0 && value.abs() <= MAX_EXACT {
        // The value is a whole number within ±2^53, so the conversion is exact.
        Some(value as i64)
    } else {
        None
    }
}

/// Formats a number so that it reads back to the same `f64`: the shortest round-trip digits,
/// without `.0` on whole numbers, in exponent form when very large or small (where it differs
/// from [`crate::csv::number`], which the tables written next to datasets use). NaN and
/// infinities are written as `.` (missing), [`Missing::Dot`].
fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return Missing::Dot.text().to_owned();
    }
    let magnitude = value.abs();
    if magnitude > 0.0 && !(1e-5..1e15).contains(&magnitude) {
        format!("{value:e}")
    } else {
        format!("{value}")
    }
}

/// Double-quotes text that would otherwise not read back unchanged.
fn quote_if_needed(text: &str) -> String {
    let needs_quotes = text.is_empty()
        || text.contains([',', '"'])
        || text.starts_with('#')
        || text.trim() != text;
    if needs_quotes {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Path of a file in the repository's test data (see `testdata/README.md`).
    macro_rules! testdata {
        ($path:literal) => {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/", $path)
        };
    }

    fn read_testdata(path: &str) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// Asserts that parsing `text` fails with a message naming the file, `line` and `word`.
    fn assert_error(text: &str, line: usize, word: &str) {
        let msg = parse_dataset("test.csv", text).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("test.csv:{line}: ")),
            "expected line {line} in: {msg}"
        );
        assert!(msg.contains(word), "expected `{word}` in: {msg}");
    }

    fn parse_ok(text: &str) -> Dataset {
        parse_dataset("test.csv", text).unwrap()
    }

    fn only_records(dataset: &Dataset) -> &[Record] {
        assert_eq!(dataset.subjects.len(), 1);
        &dataset.subjects[0].records
    }

    /// Clears what a write → parse round trip does not keep.
    fn without_lines(mut dataset: Dataset) -> Dataset {
        dataset.source = String::new();
        for subject in &mut dataset.subjects {
            for record in &mut subject.records {
                record.line = 0;
            }
        }
        dataset
    }

    // Errors.

    #[test]
    fn empty_text_has_no_header() {
        let msg = parse_dataset("test.csv", "\n# only a comment\n")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("test.csv: no header"), "{msg}");
    }

    #[test]
    fn a_header_without_data_rows_is_an_error_naming_the_header_line() {
        for text in ["ID,TIME,DV\n", "# c\nC,ID,TIME\n\nC,1,0\n# more\n"] {
            let msg = parse_dataset("test.csv", text).unwrap_err().to_string();
            assert!(msg.contains(":") && msg.contains("no data row"), "{msg}");
        }
        let msg = parse_dataset("test.csv", "ID,TIME,DV\n")
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("test.csv:1: "), "{msg}");
    }

    #[test]
    fn the_reader_hands_back_each_subject_when_the_next_one_starts() {
        // Streaming: a subject is complete, covariates back-filled, at the first line of the next.
        let text = "ID,TIME,AMT,WT\n1,0,100,.\n1,1,0,70\n# note\n2,0,50,80\n3,0,10,90\n";
        let mut reader = SubjectReader::new("stream.csv");
        let mut handed_back = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            if let Some(subject) = reader.push_line(idx + 1, line).unwrap() {
                handed_back.push((idx + 1, subject));
            }
        }
        assert_eq!(reader.covariate_names(), ["WT"]);
        let lines: Vec<usize> = handed_back.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [5, 6]);
        let first = &handed_back[0].1;
        assert_eq!(first.id, "1");
        assert_eq!(first.records[0].covariates, [70.0]);
        let last = reader.finish().unwrap().unwrap();
        assert_eq!(last.id, "3");
        assert!(reader.finish().unwrap().is_none());
    }

    #[test]
    fn missing_required_column_is_reported_on_the_header_line() {
        assert_error("ID,DV\n1,0\n", 1, "missing required column TIME");
        assert_error("TIME,DV\n1,0\n", 1, "missing required column ID");
    }

    #[test]
    fn duplicate_column_name_ignoring_case() {
        assert_error("ID,TIME,dv,DV\n", 1, "named twice");
        assert_error("ID,TIME,WT,\"wt\"\n", 1, "named twice");
    }

    #[test]
    fn empty_column_name() {
        assert_error("\"\",ID,TIME\n", 1, "no name");
    }

    #[test]
    fn wrong_number_of_fields() {
        assert_error("ID,TIME,DV\n1,0,1\n1,1\n", 3, "found 2 fields, expected 3");
    }

    #[test]
    fn unclosed_quote() {
        assert_error("ID,TIME\n\"1,0\n", 2, "quote");
    }

    #[test]
    fn non_numeric_value_names_column_and_text() {
        assert_error("ID,TIME,WT\n1,0,heavy\n", 2, "WT is `heavy`");
        assert_error("ID,TIME,AMT\n1,0,NaN\n", 2, "AMT is `NaN`");
    }

    #[test]
    fn missing_id_or_time() {
        assert_error("ID,TIME\n.,0\n", 2, "ID");
        assert_error("ID,TIME\n1,.\n", 2, "TIME is missing");
    }

    #[test]
    fn time_going_backwards() {
        assert_error("ID,TIME\n1,5\n1,4\n", 3, "earlier than TIME 5 on line 2");
    }

    #[test]
    fn time_may_go_back_on_a_reset() {
        let dataset = parse_ok("ID,TIME,EVID,AMT\n1,5,0,0\n1,0,3,0\n1,1,0,0\n1,0,4,10\n");
        let evids: Vec<Evid> = only_records(&dataset).iter().map(|r| r.evid).collect();
        assert_eq!(
            evids,
            [
                Evid::Observation,
                Evid::Reset,
                Evid::Observation,
                Evid::ResetDose
            ]
        );
    }

    #[test]
    fn negative_amt() {
        assert_error("ID,TIME,AMT\n1,0,-5\n", 2, "negative");
    }

    #[test]
    fn negative_ii() {
        assert_error("ID,TIME,AMT,II\n1,0,5,-12\n", 2, "II -12 is negative");
    }

    #[test]
    fn negative_or_fractional_addl() {
        assert_error("ID,TIME,AMT,II,ADDL\n1,0,5,12,-1\n", 2, "ADDL -1");
        assert_error("ID,TIME,AMT,II,ADDL\n1,0,5,12,1.5\n", 2, "whole number");
    }

    #[test]
    fn steady_state_without_interdose_interval() {
        assert_error("ID,TIME,AMT,SS\n1,0,100,1\n", 2, "interdose interval");
    }

    #[test]
    fn steady_state_constant_infusion_is_allowed() {
        let dataset = parse_ok("ID,TIME,EVID,AMT,RATE,SS\n1,0,1,0,10,1\n");
        let record = &only_records(&dataset)[0];
        assert!(matches!(record.rate, DoseRate::Rate(r) if (r - 10.0).abs() < 1e-12));
        assert_eq!(record.ss, SteadyState::Reset);
        // SS 2 with the same shape is not a constant infusion NONMEM accepts.
        assert_error("ID,TIME,EVID,AMT,RATE,SS\n1,0,1,0,10,2\n", 2, "AMT 0");
    }

    #[test]
    fn addl_without_interdose_interval() {
        assert_error("ID,TIME,AMT,ADDL\n1,0,100,2\n", 2, "II > 0");
    }

    #[test]
    fn non_contiguous_ids() {
        assert_error("ID,TIME\n1,0\n2,0\n1,1\n", 4, "contiguous");
    }

    #[test]
    fn dose_with_zero_amount() {
        assert_error("ID,TIME,AMT,EVID\n1,0,0,1\n", 2, "AMT 0 on a dose record");
        assert_error("ID,TIME,AMT,EVID\n1,0,.,4\n", 2, "AMT 0 on a dose record");
    }

    #[test]
    fn amount_on_a_non_dose_record() {
        assert_error("ID,TIME,AMT,EVID\n1,0,100,0\n", 2, "not a dose");
    }

    #[test]
    fn steady_state_code_out_of_range() {
        assert_error(
            "ID,TIME,AMT,II,SS\n1,0,100,24,4\n",
            2,
            "SS must be 0, 1, 2 or 3, got 4",
        );
        // Only the marker 99 itself means "not applicable"; its neighbours stay errors.
        assert_error(
            "ID,TIME,AMT,II,SS\n1,0,100,24,98\n",
            2,
            "SS must be 0, 1, 2 or 3, got 98",
        );
        assert_error(
            "ID,TIME,AMT,II,SS\n1,0,100,24,99.5\n",
            2,
            "SS must be 0, 1, 2 or 3, got 99.5",
        );
    }

    #[test]
    fn steady_state_marker_99_means_not_applicable() {
        let dataset = parse_ok("ID,TIME,AMT,II,SS,DV\n1,0,100,24,99,.\n1,1,0,0,99,5\n");
        let records = only_records(&dataset);
        assert_eq!(records[0].ss, SteadyState::No);
        assert_eq!(records[0].evid, Evid::Dose);
        assert_eq!(records[1].ss, SteadyState::No);
        assert_eq!(records[1].dv, Some(5.0));
    }

    #[test]
    fn unknown_evid_lists_accepted_codes() {
        assert_error("ID,TIME,EVID\n1,0,5\n", 2, "EVID 5 is not supported");
        assert_error("ID,TIME,EVID\n1,0,5\n", 2, "10101");
    }

    #[test]
    fn negative_cmt_is_not_supported() {
        assert_error("ID,TIME,EVID,CMT\n1,0,2,-2\n", 2, "not supported");
        assert_error("ID,TIME,CMT\n1,0,1.5\n", 2, "whole number");
    }

    #[test]
    fn bad_rate_and_mdv() {
        assert_error("ID,TIME,AMT,RATE\n1,0,100,-3\n", 2, "RATE");
        assert_error("ID,TIME,DV,MDV\n1,0,3,2\n", 2, "MDV 2");
    }

    // Reading.

    #[test]
    fn comment_rows_comment_lines_blank_lines_and_quotes_are_handled() {
        let text = "# a comment before the header\n\
                    \"c\",\"id\",\"time\",\"dv\"\n\
                    \n\
                    C,1,0,99\n\
                    .,\"1\",0,1.5\n\
                    #1,0,0,0\n\
                    ,1,1,\n";
        let dataset = parse_ok(text);
        assert!(dataset.covariate_names.is_empty());
        let records = only_records(&dataset);
        assert_eq!(dataset.subjects[0].id, "1");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].line, 5);
        assert_eq!(records[0].dv, Some(1.5));
        assert_eq!(records[1].line, 7);
        assert_eq!(records[1].dv, None);
    }

    #[test]
    fn defaults_for_missing_standard_columns() {
        let dataset = parse_ok("ID,TIME,AMT,DV\n1,0,100,5\n1,1,.,2\n1,2,0,.\n");
        let records = only_records(&dataset);
        assert_eq!(records[0].evid, Evid::Dose);
        assert_eq!(records[0].dv, None);
        assert_eq!(records[0].cmt, None);
        assert!(matches!(records[0].rate, DoseRate::Bolus));
        assert_eq!(records[0].ss, SteadyState::No);
        assert_eq!(records[1].evid, Evid::Observation);
        assert_eq!(records[1].dv, Some(2.0));
        assert_eq!(records[2].evid, Evid::Observation);
        assert_eq!(records[2].dv, None);
    }

    #[test]
    fn dv_only_on_observations_with_mdv_zero() {
        let dataset = parse_ok(
            "ID,TIME,EVID,MDV,DV,AMT,CMT\n1,0,1,1,9,10,1\n1,1,0,0,4,0,2\n1,2,0,1,4,0,2\n1,3,2,.,4,0,0\n",
        );
        let records = only_records(&dataset);
        let dvs: Vec<Option<f64>> = records.iter().map(|r| r.dv).collect();
        assert_eq!(dvs, [None, Some(4.0), None, None]);
        let cmts: Vec<Option<usize>> = records.iter().map(|r| r.cmt).collect();
        assert_eq!(cmts, [Some(0), Some(1), Some(1), None]);
    }

    #[test]
    fn covariates_are_carried_forward_and_back_filled() {
        let text = "ID,TIME,wt,Age,SEX\n\
                    1,0,.,30,.\n\
                    1,1,70,.,.\n\
                    1,2,.,.,.\n\
                    1,3,72,31,.\n\
                    2,0,.,.,1\n";
        let dataset = parse_ok(text);
        assert_eq!(dataset.covariate_names, ["WT", "AGE", "SEX"]);
        assert_eq!(dataset.covariate_index("sex"), Some(2));
        let first = &dataset.subjects[0].records;
        let weights: Vec<f64> = first.iter().map(|r| r.covariates[0]).collect();
        assert_eq!(weights, [70.0, 70.0, 70.0, 72.0]);
        let ages: Vec<f64> = first.iter().map(|r| r.covariates[1]).collect();
        assert_eq!(ages, [30.0, 30.0, 30.0, 31.0]);
        assert!(first.iter().all(|r| r.covariates[2].is_nan()));
        // Carrying never crosses subjects.
        let second = &dataset.subjects[1].records[0];
        assert!(second.covariates[0].is_nan());
        assert!(second.covariates[1].is_nan());
        assert!((second.covariates[2] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rxode2_bolus_code_becomes_a_dose_into_compartment_one() {
        let dataset = parse_ok("ID,TIME,AMT,EVID,CMT\n1,0,320,101,1\n1,1,0,0,2\n");
        let dose = &only_records(&dataset)[0];
        assert_eq!(dose.evid, Evid::Dose);
        assert_eq!(dose.cmt, Some(0));
        assert!((dose.amt - 320.0).abs() < 1e-12);
        assert!(matches!(dose.rate, DoseRate::Bolus));
        assert_error("ID,TIME,AMT,EVID,CMT\n1,0,320,101,2\n", 2, "CMT 2");
    }

    #[test]
    fn rxode2_infusion_start_and_stop_become_one_dose() {
        // In rxode2's classic coding AMT is the rate: 50 per hour from 0 to 2 h is 100.
        let dataset = parse_ok(
            "ID,TIME,AMT,RATE,EVID,WT\n1,0,50,50,10101,70\n1,1,0,0,0,.\n1,2,-50,-50,10101,.\n",
        );
        let records = only_records(&dataset);
        assert_eq!(records.len(), 2);
        let dose = &records[0];
        assert_eq!(dose.evid, Evid::Dose);
        assert_eq!(dose.cmt, Some(0));
        assert!((dose.amt - 100.0).abs() < 1e-12);
        assert!(matches!(dose.rate, DoseRate::Rate(r) if (r - 50.0).abs() < 1e-12));
        assert_eq!(records[1].evid, Evid::Observation);
        assert_error("ID,TIME,AMT,EVID\n1,0,50,10101\n", 2, "never stopped");
        assert_error("ID,TIME,AMT,EVID\n1,0,-50,10101\n", 2, "not started");
        assert_error(
            "ID,TIME,AMT,RATE,EVID\n1,0,50,10,10101\n",
            2,
            "AMT is the infusion rate",
        );
    }

    #[test]
    fn rates_missing_rates_and_modelled_rates() {
        let dataset = parse_ok("ID,TIME,AMT,RATE\n1,0,10,-1\n1,0,10,-2\n1,0,10,2.5\n1,1,0,.\n");
        let rates: Vec<DoseRate> = only_records(&dataset).iter().map(|r| r.rate).collect();
        assert!(matches!(
            rates.as_slice(),
            [
                DoseRate::ModelledRate,
                DoseRate::ModelledDuration,
                DoseRate::Rate(_),
                DoseRate::Bolus
            ]
        ));
    }

    #[test]
    fn ids_are_text() {
        let dataset = parse_ok("ID,TIME\n\" A7 \",0\n1,0\n1.0,0\n");
        let ids: Vec<&str> = dataset.subjects.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["A7", "1", "1.0"]);
    }

    // Reference data files.

    #[test]
    fn nonmem_scenarios_1001_has_29_subjects() {
        let path = testdata!("third_party/mrgsolve-nmtests/scenarios-1001.csv");
        let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
        assert_eq!(dataset.subjects.len(), 29);
        assert_eq!(
            dataset.covariate_names,
            ["LAGT", "MODE", "DUR2", "RAT2", "BIOAV"]
        );
        let n_records: usize = dataset.subjects.iter().map(|s| s.records.len()).sum();
        assert_eq!(n_records, 3837);
        // The first row: 100 into the depot (CMT 1), every 24 h, 3 additional doses.
        let first = &dataset.subjects[0].records[0];
        assert_eq!(first.evid, Evid::Dose);
        assert_eq!(first.cmt, Some(0));
        assert_eq!(first.addl, 3);
        assert_eq!(first.line, 2);
        // Subject 29 is NONMEM's steady-state constant infusion (AMT 0, RATE 100, II 0, SS 1).
        let infusion = &dataset.subjects[28].records[0];
        assert_eq!(infusion.ss, SteadyState::Reset);
        assert!(matches!(infusion.rate, DoseRate::Rate(r) if (r - 100.0).abs() < 1e-12));
    }

    #[test]
    fn nonmem_743_quoted_lowercase_header_has_54_subjects() {
        let path = testdata!("third_party/nlmixr2data/nmtest-nonmem743.csv");
        let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
        assert_eq!(dataset.subjects.len(), 54);
        // This file has no DV column; NONMEM's output is the covariate-like column `cp`.
        assert_eq!(dataset.covariate_index("CP"), Some(0));
        assert!(
            dataset
                .subjects
                .iter()
                .flat_map(|s| &s.records)
                .all(|r| r.dv.is_none())
        );
    }

    #[test]
    fn theophylline_rxode2_bolus_codes_are_translated() {
        let path = testdata!("third_party/nlmixr2data/theo_sd.csv");
        let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
        assert_eq!(dataset.subjects.len(), 12);
        assert_eq!(dataset.covariate_names, ["WT"]);
        for subject in &dataset.subjects {
            let doses: Vec<&Record> = subject
                .records
                .iter()
                .filter(|r| r.evid.is_dose())
                .collect();
            assert_eq!(doses.len(), 1, "subject {}", subject.id);
            assert_eq!(doses[0].evid, Evid::Dose);
            assert_eq!(doses[0].cmt, Some(0));
            assert!(doses[0].amt > 0.0);
            assert_eq!(doses[0].dv, None);
            assert!(
                subject
                    .records
                    .iter()
                    .filter(|r| !r.evid.is_dose())
                    .all(|r| r.cmt == Some(1) && r.dv.is_some())
            );
        }
        let first_dose = &dataset.subjects[0].records[0];
        assert!((first_dose.amt - 319.992).abs() < 1e-12);
    }

    #[test]
    fn wbc_rxode2_infusions_become_doses_of_rate_times_duration() {
        let path = testdata!("third_party/nlmixr2data/wbcSim.csv");
        let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
        assert_eq!(dataset.subjects.len(), 45);
        // Subject 1: 137 per hour from 0 to 2.99270072992701 h, i.e. a dose of 410.
        let dose = &dataset.subjects[0].records[0];
        assert!((dose.amt - 410.0).abs() < 1e-9, "amt {}", dose.amt);
        assert!(matches!(dose.rate, DoseRate::Rate(r) if (r - 137.0).abs() < 1e-12));
        assert_eq!(dataset.subjects[0].records.len(), 5);
    }

    #[test]
    fn simulated_sets_read_ss_marker_99_as_no_steady_state() {
        let path = testdata!("third_party/nlmixr2data/Bolus_1CPT.csv");
        let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
        assert_eq!(dataset.subjects.len(), 120);
        // Subject 1: seven ordinary doses (SS 99 in the file), then one SS 1 dose every 24 h.
        let steady_states: Vec<(u8, f64)> = dataset.subjects[0]
            .records
            .iter()
            .filter(|r| r.evid.is_dose())
            .map(|r| (r.ss.code(), r.ii))
            .collect();
        assert_eq!(
            steady_states,
            [
                (0, 0.0),
                (0, 0.0),
                (0, 0.0),
                (0, 0.0),
                (0, 0.0),
                (0, 0.0),
                (0, 0.0),
                (1, 24.0)
            ]
        );
    }

    #[test]
    fn warfarin_text_columns_are_rejected() {
        let path = testdata!("third_party/nlmixr2data/warfarin.csv");
        let msg = parse_dataset(path, &read_testdata(path))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("warfarin.csv:2: DVID is `cp`"), "{msg}");
    }

    // Writing.

    #[test]
    fn numbers_are_written_to_round_trip() {
        assert_eq!(format_number(100.0), "100");
        assert_eq!(format_number(-0.5), "-0.5");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e-7), "1e-7");
        assert_eq!(format_number(2.5e20), "2.5e20");
        assert_eq!(format_number(f64::NAN), ".");
    }

    #[test]
    fn written_text_has_the_standard_layout() {
        let dataset = parse_ok("ID,TIME,AMT,CMT,DV,WT\n1,0,100,1,.,70\n1,1.5,0,2,3.25,.\n");
        assert_eq!(
            write_dataset(&dataset),
            "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,II,ADDL,SS,WT\n\
             1,0,.,1,1,100,1,0,0,0,0,70\n\
             1,1.5,3.25,0,0,0,2,0,0,0,0,70\n"
        );
    }

    #[test]
    fn reference_files_round_trip_through_write() {
        for path in [
            testdata!("third_party/mrgsolve-nmtests/scenarios-1001.csv"),
            testdata!("third_party/nlmixr2data/nmtest-nonmem743.csv"),
            testdata!("third_party/nlmixr2data/theo_sd.csv"),
            testdata!("third_party/nlmixr2data/wbcSim.csv"),
        ] {
            let dataset = parse_dataset(path, &read_testdata(path)).unwrap();
            let again = parse_dataset("written.csv", &write_dataset(&dataset)).unwrap();
            assert_eq!(without_lines(again), without_lines(dataset), "{path}");
        }
    }

    #[test]
    fn covariates_never_given_stay_missing_through_write() {
        let dataset = parse_ok("ID,TIME,WT\n\"a,b\",0,.\n\"a,b\",1,.\n");
        let again = parse_ok(&write_dataset(&dataset));
        assert_eq!(again.subjects[0].id, "a,b");
        assert!(
            again.subjects[0]
                .records
                .iter()
                .all(|r| r.covariates[0].is_nan())
        );
    }

    /// Any finite number, with extra weight on whole numbers and very large or small magnitudes.
    fn any_number() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1000_i32..1000).prop_map(f64::from),
            -1e6..1e6_f64,
            prop::num::f64::POSITIVE
                | prop::num::f64::NEGATIVE
                | prop::num::f64::NORMAL
                | prop::num::f64::ZERO
                | prop::num::f64::SUBNORMAL,
        ]
    }

    fn positive_number() -> impl Strategy<Value = f64> {
        prop_oneof![
            (1_i32..1000).prop_map(f64::from),
            1e-3..1e6_f64,
            prop::num::f64::POSITIVE,
        ]
    }

    /// A record the reader could have produced, at `time`, with `n_covariates` finite covariates.
    fn any_record(n_covariates: usize) -> impl Strategy<Value = Record> {
        let kind = 0_u8..5;
        let dose = (
            positive_number(),
            prop::option::of(0_usize..4),
            prop_oneof![
                Just(DoseRate::Bolus),
                Just(DoseRate::ModelledRate),
                Just(DoseRate::ModelledDuration),
                positive_number().prop_map(DoseRate::Rate),
            ],
            prop_oneof![Just(0.0), positive_number()],
            0_u32..5,
            0_u8..4,
        );
        (
            kind,
            dose,
            prop::option::of(any_number()),
            prop::collection::vec(any_number(), n_covariates),
        )
            .prop_map(|(kind, (amt, cmt, rate, ii, addl, ss), dv, covariates)| {
                let mut record = Record {
                    covariates,
                    ..Record::output_time(0.0)
                };
                match kind {
                    0 => {
                        record.evid = Evid::Observation;
                        record.dv = dv;
                        record.cmt = cmt;
                    }
                    1 | 4 => {
                        record.evid = if kind == 1 {
                            Evid::Dose
                        } else {
                            Evid::ResetDose
                        };
                        record.amt = amt;
                        record.cmt = cmt;
                        record.rate = rate;
                        record.ii = ii;
                        // ADDL and SS need an interdose interval.
                        if ii > 0.0 {
                            record.addl = addl;
                            record.ss = SteadyState::from_code(f64::from(ss)).unwrap();
                        }
                    }
                    2 => record.evid = Evid::Other,
                    _ => record.evid = Evid::Reset,
                }
                record
            })
    }

    fn any_dataset() -> impl Strategy<Value = Dataset> {
        (0_usize..3).prop_flat_map(|n_covariates| {
            let subject = (
                prop::collection::vec(any_record(n_covariates), 1..6),
                prop::collection::vec(0.0..50.0_f64, 6),
            );
            (
                prop::collection::vec(subject, 1..4),
                prop::sample::subsequence(vec!["WT", "AGE", "CRCL"], n_covariates),
            )
                .prop_map(|(subjects, names)| Dataset {
                    source: String::new(),
                    covariate_names: names.into_iter().map(str::to_owned).collect(),
                    subjects: subjects
                        .into_iter()
                        .enumerate()
                        .map(|(subject_idx, (mut records, steps))| {
                            // Non-decreasing times, so no record needs a reset to go back.
                            let mut time = 0.0;
                            for (record, step) in records.iter_mut().zip(steps) {
                                time += step;
                                record.time = time;
                            }
                            Subject {
                                id: format!("S{subject_idx}"),
                                records,
                            }
                        })
                        .collect(),
                })
        })
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(dataset in any_dataset()) {
            let text = write_dataset(&dataset);
            let parsed = parse_dataset("generated.csv", &text);
            prop_assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
            prop_assert_eq!(without_lines(parsed.unwrap()), dataset);
        }
    }
}
