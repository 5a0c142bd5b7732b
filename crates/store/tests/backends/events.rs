//! The events cases of the suite.
