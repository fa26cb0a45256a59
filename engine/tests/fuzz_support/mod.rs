//! Shared by the parser fuzz targets of every crate (docs/fuzzing.md): the runner with its fixed
//! seed and case count, and the input generators. Each fuzz test file includes this module with
//! `#[path = ".../engine/tests/fuzz_support/mod.rs"]`, so the targets mutate inputs the same way.
//!
//! Why proptest rather than cargo-fuzz: cargo-fuzz needs a nightly toolchain and the project
//! builds on stable; proptest is already a workspace dev-dependency; a fixed ChaCha seed per
//! target makes every run draw the same inputs, a bounded number of them, inside the ordinary
//! `cargo test`; and shrinking turns a crash into a minimal input to keep as a regression test.
//!
//! Inputs come in three kinds:
//! - [`bytes_text`]: arbitrary bytes (read as UTF-8, invalid sequences replaced);
//! - [`soup`]: random sequences of a format's own pieces (delimiters, keywords, numbers), which
//!   get past the first line more often than bytes do;
//! - [`mutated`] and [`json_mutated`]: structure-aware mutations of valid seed files taken from
//!   the repository — lines deleted, duplicated or swapped, tokens replaced by extreme numbers
//!   (NaN, inf, −0, 1e308, huge integers, negative values), empty fields, unicode or very long
//!   text, and for JSON, values replaced, removed or duplicated in the parsed tree.

// Each target uses part of this module.
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
use serde_json::Value;

/// Environment variable that overrides every target's number of cases (longer campaigns).
pub const CASES_VARIABLE: &str = "TWIN_FUZZ_CASES";

/// Environment variable mixed into every target's seed, to draw other inputs than CI does.
pub const SEED_VARIABLE: &str = "TWIN_FUZZ_SEED";

/// The number of cases: `TWIN_FUZZ_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    match std::env::var(CASES_VARIABLE) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{CASES_VARIABLE}={text}: expected a whole number")),
        Err(_) => default,
    }
}

/// The 32-byte ChaCha seed of a target: FNV-1a of its name and `TWIN_FUZZ_SEED` (empty when
/// unset), expanded by SplitMix64. Fixed, so CI draws the same inputs on every run.
fn seed(target: &str) -> [u8; 32] {
    let extra = std::env::var(SEED_VARIABLE).unwrap_or_default();
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for byte in target.bytes().chain([0]).chain(extra.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0_u8; 32];
    for chunk in seed.chunks_mut(8) {
        hash = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = hash;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    seed
}

/// Runs `check` on [`cases`]`(default_cases)` inputs drawn from `strategy` with the target's
/// fixed seed, and prints the count and the time taken. A panic in `check` (the parser's or a
/// failed assertion) is shrunk to a minimal input, which the failure message shows.
pub fn fuzz<S>(target: &str, default_cases: u32, strategy: &S, check: impl Fn(&S::Value))
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases(default_cases);
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        max_shrink_iters: 4096,
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed(target)),
    );
    let start = Instant::now();
    let result = runner.run(strategy, |input| {
        check(&input);
        Ok(())
    });
    let seconds = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => eprintln!("fuzz {target}: {cases} cases, no failure, {seconds:.1} s"),
        Err(TestError::Fail(reason, minimal)) => {
            panic!("fuzz {target}: {reason}\nminimal input: {minimal:?}")
        }
        Err(TestError::Abort(reason)) => panic!("fuzz {target} aborted: {reason}"),
    }
}

/// Arbitrary bytes, up to `max_len`, read as UTF-8 with invalid sequences replaced.
pub fn bytes_text(max_len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..max_len)
        .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Up to `max_pieces` pieces of `alphabet` (a format's delimiters, keywords and numbers),
/// concatenated.
pub fn soup(alphabet: &'static [&'static str], max_pieces: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(alphabet), 0..max_pieces).prop_map(|pieces| pieces.concat())
}

/// Replacement tokens every format gets: extreme and malformed numbers, empty and missing
/// values, signs, unicode, control characters.
const EXTREMES: &[&str] = &[
    "",
    " ",
    ".",
    "-",
    "+",
    "0",
    "-0",
    "-0.0",
    "+0",
    "1",
    "-1",
    "2",
    "0.5",
    "-0.5",
    "1.5",
    "3",
    "99",
    "101",
    "10101",
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "-Infinity",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e309",
    "1e-308",
    "5e-324",
    "1e-400",
    "1e400",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "4611686018427387904",
    "9223372036854775806",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "999999999999",
    "340282366920938463463374607431768211456",
    "0x1F",
    "1_000",
    "1,5",
    "true",
    "null",
    "é",
    "µ",
    "²",
    "💊",
    "\u{0}",
    "\u{7}",
    "\u{feff}",
    "\u{202e}",
    "\t",
    "\r",
    "\n",
    "\"",
    "'",
    "#",
    ",",
    ";",
    "=",
    "[",
    "]",
    "{",
    "}",
    "\\",
    "@",
    "/",
];

/// Long replacement tokens: digits and letters far beyond what any field holds.
fn long_tokens() -> Vec<String> {
    vec![
        "9".repeat(400),
        format!("0.{}1", "0".repeat(400)),
        "x".repeat(100_000),
        "é".repeat(5_000),
        "1,".repeat(2_000),
    ]
}

/// The replacement pool: [`EXTREMES`], long tokens and the format's own `extra` tokens.
fn pool(extra: &[&str]) -> Arc<Vec<String>> {
    let mut pool: Vec<String> = EXTREMES.iter().map(|s| (*s).to_owned()).collect();
    pool.extend(long_tokens());
    pool.extend(extra.iter().map(|s| (*s).to_owned()));
    Arc::new(pool)
}

/// A replacement text: from the pool mostly, else random characters or a random number.
fn replacement(pool: Arc<Vec<String>>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => any::<Index>().prop_map(move |i| pool[i.index(pool.len())].clone()),
        1 => prop::collection::vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect()),
        1 => any::<f64>().prop_map(|x| x.to_string()),
        1 => any::<i64>().prop_map(|x| x.to_string()),
    ]
}

/// One text-level edit. Positions are [`Index`]es, resolved against the text at the time the
/// edit applies (lines, tokens or character boundaries), so any sequence of edits is valid.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Delete a line.
    DeleteLine(Index),
    /// Duplicate a line in place.
    DuplicateLine(Index),
    /// Swap two lines.
    SwapLines(Index, Index),
    /// Replace a token (a run of letters, digits and `._+-`) by a text.
    ReplaceToken(Index, String),
    /// Replace a token by a copy of another token of the text.
    CopyToken(Index, Index),
    /// Delete a token.
    DeleteToken(Index),
    /// Insert a text at a character boundary.
    Insert(Index, String),
    /// Cut the text at a character boundary.
    Truncate(Index),
}

fn edit(pool: Arc<Vec<String>>) -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => any::<Index>().prop_map(Edit::DeleteLine),
        2 => any::<Index>().prop_map(Edit::DuplicateLine),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
        10 => (any::<Index>(), replacement(pool.clone()))
            .prop_map(|(i, text)| Edit::ReplaceToken(i, text)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::CopyToken(a, b)),
        2 => any::<Index>().prop_map(Edit::DeleteToken),
        2 => (any::<Index>(), replacement(pool)).prop_map(|(i, text)| Edit::Insert(i, text)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// Byte ranges of the tokens of `text`: maximal runs of alphanumeric characters and `._+-`.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let is_token_char = |c: char| c.is_alphanumeric() || "._+-".contains(c);
    let mut res = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (start, is_token_char(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                res.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        res.push((s, text.len()));
    }
    res
}

/// Character boundaries of `text`, the end included.
fn boundaries(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect()
}

/// `text` with `edit` applied (unchanged when the edit has nothing to act on).
pub fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let toks = tokens(text);
    let splice = |(start, end): (usize, usize), with: &str| {
        format!("{}{with}{}", &text[..start], &text[end..])
    };
    match edit {
        Edit::DeleteLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
            lines.concat()
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let at = i.index(lines.len());
            let line = if lines[at].ends_with('\n') {
                lines[at].to_owned()
            } else {
                format!("{}\n", lines[at])
            };
            let mut owned: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            owned.insert(at, line);
            owned.concat()
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            let mut owned: Vec<String> = lines
                .iter()
                .map(|l| l.strip_suffix('\n').unwrap_or(l).to_owned())
                .collect();
            let n = owned.len();
            owned.swap(a.index(n), b.index(n));
            let mut res = owned.join("\n");
            if text.ends_with('\n') {
                res.push('\n');
            }
            res
        }
        Edit::ReplaceToken(i, with) if !toks.is_empty() => splice(toks[i.index(toks.len())], with),
        Edit::CopyToken(i, j) if !toks.is_empty() => {
            let (start, end) = toks[j.index(toks.len())];
            splice(toks[i.index(toks.len())], &text[start..end])
        }
        Edit::DeleteToken(i) if !toks.is_empty() => splice(toks[i.index(toks.len())], ""),
        Edit::Insert(i, with) => {
            let at = boundaries(text);
            let at = at[i.index(at.len())];
            splice((at, at), with)
        }
        Edit::Truncate(i) => {
            let at = boundaries(text);
            text[..at[i.index(at.len())]].to_owned()
        }
        _ => text.to_owned(),
    }
}

/// One of `seeds` with one to `max_edits` [`Edit`]s applied; replacement tokens come from the
/// shared extremes and the format's own `extra` tokens.
pub fn mutated(
    seeds: Vec<String>,
    extra: &[&str],
    max_edits: usize,
) -> impl Strategy<Value = String> + use<> {
    assert!(!seeds.is_empty(), "a mutation target needs seed inputs");
    let pool = pool(extra);
    (
        select(seeds),
        prop::collection::vec(edit(pool), 1..=max_edits),
    )
        .prop_map(|(seed, edits)| edits.iter().fold(seed, |text, e| apply(&text, e)))
}

/// One step of the path to a node of a JSON tree.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Item(usize),
}

/// Walks `value` depth first (the root first) and returns the path to the `target`-th node
/// counted, or `None` after counting them all in `seen`. With `members_only`, only the values of
/// object members count (not the root, not array elements).
fn visit(
    value: &Value,
    is_member: bool,
    members_only: bool,
    path: &mut Vec<Step>,
    seen: &mut usize,
    target: usize,
) -> Option<Vec<Step>> {
    if is_member || !members_only {
        if *seen == target {
            return Some(path.clone());
        }
        *seen += 1;
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Step::Key(key.clone()));
                let found = visit(child, true, members_only, path, seen, target);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
        }
        Value::Array(items) => {
            for (idx, child) in items.iter().enumerate() {
                path.push(Step::Item(idx));
                let found = visit(child, false, members_only, path, seen, target);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
        }
        _ => {}
    }
    None
}

/// The path to the node `index` picks among the nodes of `value` (or among its object members),
/// `None` when there is none. Two walks, no path built but the one returned.
fn pick(value: &Value, index: &Index, members_only: bool) -> Option<Vec<Step>> {
    let mut n = 0;
    visit(
        value,
        false,
        members_only,
        &mut Vec::new(),
        &mut n,
        usize::MAX,
    );
    if n == 0 {
        return None;
    }
    let target = index.index(n);
    visit(value, false, members_only, &mut Vec::new(), &mut 0, target)
}

fn node_mut<'v>(value: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |node, step| match step {
        Step::Key(key) => node.get_mut(key.as_str()),
        Step::Item(idx) => node.get_mut(*idx),
    })
}

/// A value-level edit of a JSON tree.
#[derive(Debug, Clone)]
pub enum JsonEdit {
    /// Replace a node by a value.
    Replace(Index, Value),
    /// Replace the value of an object member (a named field, not an array element: in files
    /// with long arrays these would draw most edits) by a value.
    ReplaceMember(Index, Value),
    /// Remove a node from its object or array.
    Remove(Index),
    /// Duplicate an array element (in place), or an object member's value into a new key.
    Duplicate(Index),
    /// Replace a node by a copy of another node.
    Copy(Index, Index),
}

/// JSON values that stress a reader: extreme numbers, wrong types, odd strings.
fn json_atom(pool: Arc<Vec<String>>) -> impl Strategy<Value = Value> {
    let numbers: Vec<Value> = vec![
        Value::from(0),
        Value::from(-1),
        Value::from(1),
        Value::from(2),
        Value::from(u32::MAX),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(i64::MAX),
        Value::from(i32::MIN),
        Value::from(i32::MAX),
        Value::from(-0.0),
        Value::from(0.5),
        Value::from(-0.5),
        Value::from(1e308),
        Value::from(-1e308),
        Value::from(f64::MAX),
        Value::from(5e-324),
        Value::from(1e-300),
        Value::from(4_294_967_296.0),
        Value::from(1e15 + 0.5),
    ];
    prop_oneof![
        5 => select(numbers),
        1 => any::<f64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        3 => replacement(pool).prop_map(Value::String),
        1 => Just(Value::Array(Vec::new())),
        1 => Just(Value::Object(serde_json::Map::new())),
    ]
}

fn json_edit(pool: Arc<Vec<String>>) -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        3 => (any::<Index>(), json_atom(pool.clone())).prop_map(|(i, v)| JsonEdit::Replace(i, v)),
        3 => (any::<Index>(), json_atom(pool)).prop_map(|(i, v)| JsonEdit::ReplaceMember(i, v)),
        2 => any::<Index>().prop_map(JsonEdit::Remove),
        2 => any::<Index>().prop_map(JsonEdit::Duplicate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| JsonEdit::Copy(a, b)),
    ]
}

/// `value` with `edit` applied (unchanged when the edit has nothing to act on).
fn apply_json(mut value: Value, edit: &JsonEdit) -> Value {
    match edit {
        JsonEdit::Replace(i, with) | JsonEdit::ReplaceMember(i, with) => {
            let members_only = matches!(edit, JsonEdit::ReplaceMember(..));
            if let Some(path) = pick(&value, i, members_only)
                && let Some(node) = node_mut(&mut value, &path)
            {
                *node = with.clone();
            }
        }
        JsonEdit::Copy(i, j) => {
            let source = pick(&value, j, false)
                .and_then(|path| node_mut(&mut value, &path).map(|v| v.clone()));
            if let (Some(source), Some(path)) = (source, pick(&value, i, false))
                && let Some(node) = node_mut(&mut value, &path)
            {
                *node = source;
            }
        }
        JsonEdit::Remove(i) | JsonEdit::Duplicate(i) => {
            let Some(path) = pick(&value, i, false) else {
                return value;
            };
            let Some((last, parent_path)) = path.split_last() else {
                return value;
            };
            let duplicate = matches!(edit, JsonEdit::Duplicate(_));
            match (node_mut(&mut value, parent_path), last) {
                (Some(Value::Array(items)), Step::Item(idx)) => {
                    if duplicate {
                        let copy = items[*idx].clone();
                        items.insert(*idx, copy);
                    } else {
                        items.remove(*idx);
                    }
                }
                (Some(Value::Object(map)), Step::Key(key)) => {
                    if duplicate {
                        if let Some(copy) = map.get(key).cloned() {
                            map.insert(format!("{key}_2"), copy);
                        }
                    } else {
                        map.remove(key);
                    }
                }
                _ => {}
            }
        }
    }
    value
}

/// One of the JSON `seeds` with up to `max_edits` value-level edits of its parsed tree, written
/// back (pretty, or compact), then up to two text-level [`Edit`]s (which reach what a tree cannot
/// hold: NaN, 1e400, duplicate keys, broken syntax).
pub fn json_mutated(
    seeds: &[String],
    extra: &[&str],
    max_edits: usize,
) -> impl Strategy<Value = String> + use<> {
    let trees: Vec<Value> = seeds
        .iter()
        .map(|s| serde_json::from_str(s).expect("a JSON seed must parse"))
        .collect();
    assert!(!trees.is_empty(), "a mutation target needs seed inputs");
    let pool = pool(extra);
    (
        select(trees),
        prop::collection::vec(json_edit(pool.clone()), 0..=max_edits),
        any::<bool>(),
        prop::collection::vec(edit(pool), 0..=2),
    )
        .prop_map(|(tree, edits, pretty, text_edits)| {
            let tree = edits.iter().fold(tree, apply_json);
            let text = if pretty {
                serde_json::to_string_pretty(&tree)
            } else {
                serde_json::to_string(&tree)
            }
            .unwrap_or_default();
            text_edits.iter().fold(text, |text, e| apply(&text, e))
        })
}

/// `text` without its comment lines (those starting with `#`), for seeds whose comments would
/// otherwise draw most token edits.
pub fn without_comment_lines(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Asserts that an error message says something: not empty or blank.
pub fn assert_says_something(message: &str) {
    assert!(
        !message.trim().is_empty(),
        "the error message is empty: {message:?}"
    );
}
