//! Unit tests of event planning.
