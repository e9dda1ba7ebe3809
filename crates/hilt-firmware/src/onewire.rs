//! 1-Wire bus master.
