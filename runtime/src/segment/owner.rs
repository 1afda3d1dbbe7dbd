//! The owner word: a process identity (pid plus start time) packed into
//! one `AtomicU64`, as the zone locks and the producer line store it. Why
//! one word makes takeover safe is explained in `zone::lock`'s module
//! documentation.

use crate::segment::os::ProcessId;

/// Bits of the owner word that hold the pid (Linux: pids < 2^22).
pub(crate) const OWNER_PID_BITS: u32 = 22;
const OWNER_PID_MASK: u64 = (1 << OWNER_PID_BITS) - 1;
/// Start times must be below this to fit above the pid.
const OWNER_START_TIME_LIMIT: u64 = 1 << (64 - OWNER_PID_BITS);

/// The owner word of `id`, or `None` if it does not fit (or is pid 0, which
/// would make a start time of 0 read as "free").
pub(crate) fn encode_owner(id: ProcessId) -> Option<u64> {
    if id.pid == 0 || u64::from(id.pid) > OWNER_PID_MASK || id.start_time >= OWNER_START_TIME_LIMIT
    {
        return None;
    }
    Some((id.start_time << OWNER_PID_BITS) | u64::from(id.pid))
}

/// The identity an owner word names. Any word decodes (a hostile or
/// corrupted segment gives some identity, which `is_alive` then judges).
pub(crate) fn decode_owner(word: u64) -> ProcessId {
    ProcessId {
        // The mask keeps 22 bits: it fits.
        pid: (word & OWNER_PID_MASK) as u32,
        start_time: word >> OWNER_PID_BITS,
    }
}
