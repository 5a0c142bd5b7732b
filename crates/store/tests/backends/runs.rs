//! The runs cases of the suite.
