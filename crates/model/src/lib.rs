//! Linear regression on the tape (work in progress).
