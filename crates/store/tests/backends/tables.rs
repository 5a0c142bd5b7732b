//! The tables cases of the suite.
