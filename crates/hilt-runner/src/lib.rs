//! Runs hilt scenarios.
