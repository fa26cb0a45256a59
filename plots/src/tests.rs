//! Tests of the figures through their public functions, and of what fan charts and Kaplan–Meier
//! plots share (argument checks, degenerate and extreme data, missing values).

use crate::fan::fan_figure;
use crate::figure::Shape;
use crate::km::step_runs;
use crate::style::{OUTER_ALPHA, arm_colour};
use crate::*;
use plotters::style::Color;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A two-arm fan chart with log-normal-looking quantiles over 0–168 h.
fn two_arms() -> Vec<Band> {
    ["100 mg q24h", "200 mg q24h"]
        .iter()
        .enumerate()
        .map(|(arm_idx, name)| {
            let times: Vec<f64> = (0..=84).map(|i| f64::from(i) * 2.0).collect();
            let median: Vec<f64> = times
                .iter()
                .map(|&t| {
                    let since_dose = t % 24.0;
                    (arm_idx as f64 + 1.0)
                        * (2.0 + 3.0 * (1.0 - (-t / 40.0).exp()))
                        * (-since_dose / 14.0).exp()
                        * (1.0 + since_dose.min(1.5))
                })
                .collect();
            let scaled = |f: f64| median.iter().map(|m| m * f).collect::<Vec<f64>>();
            Band {
                arm: (*name).to_owned(),
                p05: scaled(0.45),
                p25: scaled(0.72),
                p50: median.clone(),
                p75: scaled(1.38),
                p95: scaled(2.2),
                times,
            }
        })
        .collect()
}

fn chart<'a>(bands: &'a [Band], observations: Option<&'a Observations>) -> FanChart<'a> {
    FanChart {
        title: "Plasma concentration",
        x_label: "Time (h)",
        y_label: "Concentration (mg/L)",
        bands,
        observations,
        log_y: false,
    }
}

fn two_km_arms() -> Vec<SurvivalCurve> {
    [("control", 0.08), ("treatment", 0.05)]
        .iter()
        .map(|&(name, hazard)| {
            let times: Vec<f64> = (0..=24).map(f64::from).collect();
            let survival: Vec<f64> = times.iter().map(|t| (-hazard * t).exp()).collect();
            SurvivalCurve {
                arm: name.to_owned(),
                lower: Some(survival.iter().map(|s| (s - 0.08).max(0.0)).collect()),
                upper: Some(survival.iter().map(|s| (s + 0.08).min(1.0)).collect()),
                survival,
                times,
            }
        })
        .collect()
}

fn km(curves: &[SurvivalCurve]) -> KmPlot<'_> {
    KmPlot {
        title: "Overall survival",
        x_label: "Time (months)",
        curves,
    }
}

/// Width and height from the IHDR chunk, which follows the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// Text of the `<text>` elements of an SVG document.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let body = &rest[rest.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_owned())
        })
        .collect()
}

#[test]
fn fan_svg_has_title_axis_labels_and_one_legend_entry_per_arm() {
    let bands = two_arms();
    let obs = Observations {
        times: vec![2.0, 26.0, 50.0],
        values: vec![5.0, 7.5, 9.0],
    };
    let svg = fan_chart_svg(&chart(&bands, Some(&obs))).unwrap();
    let texts = svg_texts(&svg);
    for expected in [
        "Plasma concentration",
        "Time (h)",
        "Concentration (mg/L)",
        "observed",
    ] {
        assert_eq!(
            texts.iter().filter(|t| *t == expected).count(),
            1,
            "{expected} in {texts:?}"
        );
    }
    for band in &bands {
        assert_eq!(texts.iter().filter(|t| **t == band.arm).count(), 1);
    }
}

#[test]
fn svg_is_self_contained() {
    let bands = two_arms();
    let svg = fan_chart_svg(&chart(&bands, None)).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    for external in ["href", "url(", "@import", "<image"] {
        assert!(!svg.contains(external), "SVG references {external}");
    }
}

#[test]
fn svg_escapes_markup_in_names() {
    let mut bands = two_arms();
    bands[0].arm = "A & <B>".to_owned();
    let svg = fan_chart_svg(&chart(&bands, None)).unwrap();
    assert!(svg.contains("A &amp; &lt;B&gt;"));
    assert!(!svg.contains("<B>"));
}

#[test]
fn fan_png_has_signature_and_size() {
    let bands = two_arms();
    let png = fan_chart_png(&chart(&bands, None)).unwrap();
    assert_eq!(png[..8], PNG_SIGNATURE);
    assert_eq!(png_size(&png), (WIDTH_PX, HEIGHT_PX));
}

#[test]
fn output_is_deterministic() {
    let bands = two_arms();
    let mut fan = chart(&bands, None);
    fan.log_y = true;
    assert_eq!(fan_chart_png(&fan).unwrap(), fan_chart_png(&fan).unwrap());
    assert_eq!(fan_chart_svg(&fan).unwrap(), fan_chart_svg(&fan).unwrap());
    let curves = two_km_arms();
    assert_eq!(km_svg(&km(&curves)).unwrap(), km_svg(&km(&curves)).unwrap());
}

#[test]
fn km_svg_has_title_axis_labels_and_one_legend_entry_per_arm() {
    let curves = two_km_arms();
    let texts = svg_texts(&km_svg(&km(&curves)).unwrap());
    for expected in [
        "Overall survival",
        "Time (months)",
        "Survival probability",
        "control",
        "treatment",
        "confidence band",
    ] {
        assert_eq!(
            texts.iter().filter(|t| *t == expected).count(),
            1,
            "{expected} in {texts:?}"
        );
    }
}

#[test]
fn zero_arms_is_an_error() {
    let err = fan_chart_svg(&chart(&[], None)).unwrap_err();
    assert!(err.to_string().contains("no arms"), "{err}");
    let err = fan_chart_png(&chart(&[], None)).unwrap_err();
    assert!(err.to_string().contains("no arms"), "{err}");
    let err = km_svg(&km(&[])).unwrap_err();
    assert!(err.to_string().contains("no arms"), "{err}");
    let PlotError::NothingToPlot { figure, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(figure, "Kaplan–Meier plot 'Overall survival'");
}

#[test]
fn mismatched_lengths_and_decreasing_times_are_errors() {
    let mut bands = two_arms();
    bands[1].p75.pop();
    let err = fan_chart_svg(&chart(&bands, None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "arm '200 mg q24h': p75 has 84 values for 85 times"
    );
    assert!(
        matches!(&err, PlotError::Mismatch { field, got: 84, expected: 85, .. } if field == "p75"),
        "{err:?}"
    );
    let mut bands = two_arms();
    bands[0].times.swap(3, 4);
    let err = fan_chart_svg(&chart(&bands, None)).unwrap_err();
    assert!(
        err.to_string().contains("times decrease at index 4"),
        "{err}"
    );
    let mut curves = two_km_arms();
    curves[0].survival[2] = 1.5;
    let err = km_svg(&km(&curves)).unwrap_err();
    assert!(err.to_string().contains("not a probability"), "{err}");
    let bands = two_arms();
    let obs = Observations {
        times: vec![1.0],
        values: vec![],
    };
    assert!(fan_chart_svg(&chart(&bands, Some(&obs))).is_err());
}

#[test]
fn all_missing_is_an_error() {
    let mut bands = two_arms();
    for band in &mut bands {
        for v in [
            &mut band.p05,
            &mut band.p25,
            &mut band.p50,
            &mut band.p75,
            &mut band.p95,
        ] {
            v.fill(f64::NAN);
        }
    }
    let err = fan_chart_png(&chart(&bands, None)).unwrap_err();
    assert!(err.to_string().contains("nothing to plot"), "{err}");
}

#[test]
fn degenerate_data_gives_valid_plots() {
    let constant = Band {
        arm: "flat".to_owned(),
        times: vec![0.0, 1.0, 2.0],
        p05: vec![3.0; 3],
        p25: vec![3.0; 3],
        p50: vec![3.0; 3],
        p75: vec![3.0; 3],
        p95: vec![3.0; 3],
    };
    let single = Band {
        arm: "one time".to_owned(),
        times: vec![5.0],
        p05: vec![1.0],
        p25: vec![2.0],
        p50: vec![3.0],
        p75: vec![4.0],
        p95: vec![5.0],
    };
    let empty = Band {
        arm: "no times".to_owned(),
        times: vec![],
        p05: vec![],
        p25: vec![],
        p50: vec![],
        p75: vec![],
        p95: vec![],
    };
    let zeros = Band {
        arm: "zeros".to_owned(),
        times: vec![0.0, 0.0],
        p05: vec![0.0; 2],
        p25: vec![0.0; 2],
        p50: vec![0.0; 2],
        p75: vec![0.0; 2],
        p95: vec![0.0; 2],
    };
    for bands in [
        vec![constant.clone()],
        vec![single.clone()],
        vec![single, empty, constant],
        vec![zeros],
    ] {
        for log_y in [false, true] {
            let mut fan = chart(&bands, None);
            fan.log_y = log_y;
            if log_y && bands[0].arm == "zeros" {
                assert!(fan_chart_svg(&fan).is_err());
                continue;
            }
            assert!(fan_chart_svg(&fan).unwrap().contains("</svg>"));
            assert_eq!(fan_chart_png(&fan).unwrap()[..8], PNG_SIGNATURE);
        }
    }
    let single_point = SurvivalCurve {
        arm: "one".to_owned(),
        times: vec![0.0],
        survival: vec![1.0],
        lower: Some(vec![1.0]),
        upper: Some(vec![1.0]),
    };
    assert!(km_svg(&km(&[single_point])).is_ok());
}

#[test]
fn extreme_values_give_errors_or_valid_plots() {
    let band = |p50: [f64; 2]| Band {
        arm: "extreme".to_owned(),
        times: vec![0.0, 1.0],
        p05: p50.to_vec(),
        p25: p50.to_vec(),
        p50: p50.to_vec(),
        p75: p50.to_vec(),
        p95: p50.to_vec(),
    };
    let too_wide = [band([-1e308, 1e308])];
    let err = fan_chart_svg(&chart(&too_wide, None)).unwrap_err();
    assert!(err.to_string().contains("floating-point range"), "{err}");
    for (p50, log_y) in [
        ([1e-300, 1e300], true),
        ([5e-324, f64::MAX], true),
        ([0.0, 1.7e308], false),
        ([1e15, 1e15 + 2.0], false),
    ] {
        let bands = [band(p50)];
        let fan = FanChart {
            log_y,
            ..chart(&bands, None)
        };
        assert!(fan_chart_svg(&fan).is_ok(), "{p50:?}");
        assert_eq!(fan_chart_png(&fan).unwrap()[..8], PNG_SIGNATURE);
    }
}

#[test]
fn nan_values_leave_gaps() {
    let mut bands = two_arms();
    bands[0].p50[10] = f64::NAN;
    bands[0].p05[40] = f64::NAN;
    let figure = fan_figure(&chart(&bands, None)).unwrap();
    let lines_of_first_arm = figure
        .shapes
        .iter()
        .filter(|s| matches!(s, Shape::Line { colour, .. } if *colour == arm_colour(0).to_rgba()))
        .count();
    assert_eq!(lines_of_first_arm, 2, "the median splits around index 10");
    let outer_areas = figure
        .shapes
        .iter()
        .filter(
            |s| matches!(s, Shape::Area { fill, .. } if *fill == arm_colour(0).mix(OUTER_ALPHA)),
        )
        .count();
    assert_eq!(outer_areas, 2, "the 90 % band splits around index 40");
    assert!(fan_chart_png(&chart(&bands, None)).is_ok());

    let mut curves = two_km_arms();
    curves[0].survival[5] = f64::NAN;
    assert_eq!(
        step_runs(&curves[0].times, &curves[0].survival).len(),
        2,
        "the step function splits around index 5"
    );
    assert!(km_svg(&km(&curves)).is_ok());
}
