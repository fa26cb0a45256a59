//! Endpoint values of one patient under one regimen, from the simulated visits.
//!
//! - continuous: the output at the endpoint visit observed with the model's residual error, minus
//!   the observed baseline for a change; missing when the patient dropped out before the visit
//!   (every patient is otherwise followed to the visit: administrative censoring at the study end
//!   applies to time-to-event endpoints only);
//! - binary from a threshold: the same value compared with the threshold;
//! - binary from an event: 1 if the model's time-to-event outcome occurs by `by` while the patient
//!   is followed, 0 if followed to `by` without it, missing if follow-up ended earlier (a
//!   complete-case analysis of such an endpoint is biased under dropout: patients with early
//!   events are never missing — use the time-to-event endpoint when dropout matters);
//! - time to event: `min(T, dropout, administrative end)` with `CNSR` 0 for the event,
//!   [`CNSR_STUDY_END`] for administrative censoring at the study end (or the last visit) and
//!   [`CNSR_DROPOUT`] for dropout.

use crate::design::{Endpoint, EndpointKind};

/// `CNSR` of an observed event.
pub const CNSR_EVENT: u8 = 0;
/// `CNSR` of administrative censoring at the study end.
pub const CNSR_STUDY_END: u8 = 1;
/// `CNSR` of censoring at dropout (lost to follow-up).
pub const CNSR_DROPOUT: u8 = 2;

/// One endpoint of one patient under one regimen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointValue {
    /// The analysed value: continuous value or change, 0/1, or the follow-up time of a
    /// time-to-event endpoint; NaN when missing.
    pub value: f64,
    /// Continuous and threshold endpoints: the observed output at the visit (`AVAL` of ADaM);
    /// event endpoints: the latent event time (NaN if none within the visits).
    pub raw: f64,
    /// Time-to-event: [`CNSR_EVENT`], [`CNSR_STUDY_END`] or [`CNSR_DROPOUT`]; 0 otherwise.
    pub cnsr: u8,
}

impl EndpointValue {
    /// A missing value.
    pub const MISSING: Self = Self {
        value: f64::NAN,
        raw: f64::NAN,
        cnsr: 0,
    };

    /// Whether a time-to-event value is an event.
    #[must_use]
    pub fn is_event(&self) -> bool {
        self.cnsr == CNSR_EVENT
    }
}

/// How long a patient is followed, model time units from entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FollowUp {
    /// Dropout time (`+∞` for none).
    pub dropout: f64,
    /// Administrative end: study end minus entry time.
    pub administrative: f64,
}

impl FollowUp {
    /// Followed to the end of every visit schedule: no dropout, no administrative limit.
    pub const COMPLETE: Self = Self {
        dropout: f64::INFINITY,
        administrative: f64::INFINITY,
    };
}

/// The value of `endpoint` for a patient with observed visit values `observed` (row-major
/// `visits × outputs`), observed pre-dose baseline `baseline`, model outcomes `outcomes` and
/// follow-up `follow_up`. `visits` are the visit times.
#[must_use]
pub fn endpoint_value(
    endpoint: &Endpoint,
    visits: &[f64],
    observed: &[f64],
    baseline: &[f64],
    outcomes: &[f64],
    follow_up: FollowUp,
) -> EndpointValue {
    let n_out = baseline.len();
    let at_visit = |output: usize, visit: usize, change: bool| -> (f64, f64) {
        if follow_up.dropout < visits[visit] || follow_up.administrative < visits[visit] {
            return (f64::NAN, f64::NAN);
        }
        let raw = observed[visit * n_out + output];
        let value = if change { raw - baseline[output] } else { raw };
        (raw, value)
    };
    match endpoint.kind {
        EndpointKind::Continuous {
            output,
            visit,
            change,
        } => {
            let (raw, value) = at_visit(output, visit, change);
            EndpointValue {
                value,
                raw,
                cnsr: 0,
            }
        }
        EndpointKind::BinaryThreshold {
            output,
            visit,
            change,
            above,
            threshold,
        } => {
            let (raw, value) = at_visit(output, visit, change);
            let hit = if above {
                value > threshold
            } else {
                value < threshold
            };
            EndpointValue {
                value: if value.is_nan() {
                    f64::NAN
                } else {
                    f64::from(u8::from(hit))
                },
                raw,
                cnsr: 0,
            }
        }
        EndpointKind::BinaryEvent { outcome, by } => {
            let t = outcomes[outcome];
            let followed = follow_up.dropout.min(follow_up.administrative);
            let value = if !t.is_nan() && t <= by && t <= followed {
                1.0
            } else if followed < by {
                f64::NAN
            } else {
                0.0
            };
            EndpointValue {
                value,
                raw: t,
                cnsr: 0,
            }
        }
        EndpointKind::TimeToEvent { outcome } => {
            let t = outcomes[outcome];
            let censor = follow_up.dropout.min(follow_up.administrative);
            if !t.is_nan() && t <= censor {
                EndpointValue {
                    value: t,
                    raw: t,
                    cnsr: CNSR_EVENT,
                }
            } else {
                // No event within the visits: the patient is event-free until the last visit,
                // which is at or after the study end, so censoring happens at `censor` unless
                // the patient is followed beyond the visits (the truth cohort without limits).
                let last = visits.last().copied().unwrap_or(0.0);
                let (time, cnsr) =
                    if follow_up.dropout < follow_up.administrative && follow_up.dropout < last {
                        (follow_up.dropout, CNSR_DROPOUT)
                    } else {
                        (follow_up.administrative.min(last), CNSR_STUDY_END)
                    };
                EndpointValue {
                    value: time,
                    raw: t,
                    cnsr,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(kind: EndpointKind) -> Endpoint {
        Endpoint {
            name: "E".to_owned(),
            description: String::new(),
            kind,
        }
    }

    const VISITS: [f64; 3] = [0.0, 10.0, 20.0];
    // Two outputs at three visits; the observed baseline differs from visit 0 (pre-dose).
    const OBSERVED: [f64; 6] = [1.0, 100.0, 3.0, 110.0, 6.0, 130.0];
    const BASELINE: [f64; 2] = [1.5, 100.0];

    #[test]
    fn continuous_change_is_missing_after_dropout() {
        let e = endpoint(EndpointKind::Continuous {
            output: 0,
            visit: 2,
            change: true,
        });
        let v = endpoint_value(&e, &VISITS, &OBSERVED, &BASELINE, &[], FollowUp::COMPLETE);
        // 6.0 observed at visit 2 minus the observed baseline 1.5.
        assert!((v.value - 4.5).abs() < 1e-15 && (v.raw - 6.0).abs() < 1e-15);
        let dropped = FollowUp {
            dropout: 15.0,
            administrative: f64::INFINITY,
        };
        assert!(
            endpoint_value(&e, &VISITS, &OBSERVED, &BASELINE, &[], dropped)
                .value
                .is_nan()
        );
    }

    #[test]
    fn time_to_event_censoring_codes() {
        let e = endpoint(EndpointKind::TimeToEvent { outcome: 0 });
        let follow = |dropout, administrative| FollowUp {
            dropout,
            administrative,
        };
        // Event at 12 before dropout (15) and study end (18).
        let v = endpoint_value(
            &e,
            &VISITS,
            &OBSERVED,
            &BASELINE,
            &[12.0],
            follow(15.0, 18.0),
        );
        assert_eq!((v.value, v.cnsr), (12.0, CNSR_EVENT));
        // Dropout at 9 comes first.
        let v = endpoint_value(
            &e,
            &VISITS,
            &OBSERVED,
            &BASELINE,
            &[12.0],
            follow(9.0, 18.0),
        );
        assert_eq!((v.value, v.cnsr), (9.0, CNSR_DROPOUT));
        // No event: administrative censoring at 18.
        let v = endpoint_value(
            &e,
            &VISITS,
            &OBSERVED,
            &BASELINE,
            &[f64::NAN],
            follow(f64::INFINITY, 18.0),
        );
        assert_eq!((v.value, v.cnsr), (18.0, CNSR_STUDY_END));
    }

    #[test]
    fn binary_event_by_time() {
        let e = endpoint(EndpointKind::BinaryEvent {
            outcome: 0,
            by: 10.0,
        });
        let full = FollowUp::COMPLETE;
        assert!(
            (endpoint_value(&e, &VISITS, &OBSERVED, &BASELINE, &[8.0], full).value - 1.0).abs()
                < 1e-15
        );
        assert!(
            endpoint_value(&e, &VISITS, &OBSERVED, &BASELINE, &[11.0], full)
                .value
                .abs()
                < 1e-15
        );
        let short = FollowUp {
            dropout: 5.0,
            administrative: f64::INFINITY,
        };
        assert!(
            endpoint_value(&e, &VISITS, &OBSERVED, &BASELINE, &[11.0], short)
                .value
                .is_nan()
        );
    }
}
