//! Virtual trials (twinsim issue 5): the statistics a trial simulation needs, each checked
//! against an independent implementation (R's survival and stats packages).

pub mod distributions;
pub mod linear;
pub mod survival;
