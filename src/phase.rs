//! The kernel's phase timer (the portable [`sparsek::boottime::Phases`] on the timebase):
//! each boot step calls [`end`] when it is done.

use sparsek::boottime::{Phase, Phases};

use crate::arch;

/// Counting starts at kernel entry (the clock's zero).
static PHASES: spin::Mutex<Phases> = spin::Mutex::new(Phases::new(0));

/// `phase` is done now.
pub fn end(phase: Phase) {
    let now = arch::now_ns();
    PHASES.lock().end(phase, now);
}

/// The phases so far.
pub fn phases() -> Phases {
    PHASES.lock().clone()
}
