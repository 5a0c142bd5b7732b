//! The sandbox cases of the suite.
