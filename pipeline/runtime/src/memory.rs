//! Memory locking for latency-critical runs (`trustloop run --lock-memory`).
//!
//! The operators' state grows as releases, advisories and telemetry arrive. Each first touch of new
//! memory is a page fault, normally about a microsecond. On virtual machines whose host takes back
//! the memory a guest frees (virtio-balloon free page reporting), one fault can take milliseconds
//! while the host backs the page again. On the 2-core development VM that was 5 ms, and it set the
//! impact operator's p99 (see the README). Locking the process's memory (`mlockall` with
//! `MCL_CURRENT | MCL_FUTURE`, as Elasticsearch's `bootstrap.memory_lock` does) makes every mapping
//! resident when it is created. The allocator's arenas are then faulted in once, in bulk, and
//! never handed back, so no fault lands inside an event's processing. The cost is resident
//! memory: the allocator's reserved arenas count in full, whatever the state uses.

use thiserror::Error;

/// Why memory could not be locked.
#[derive(Debug, Error)]
pub enum LockMemoryError {
    /// `RLIMIT_MEMLOCK` is finite and the process lacks `CAP_IPC_LOCK`. Locking all future mappings
    /// under a finite limit lets the run start, then fails allocations (and so aborts the process)
    /// once the locked memory reaches the limit, so it is refused up front.
    #[error(
        "RLIMIT_MEMLOCK is {0} bytes and the process lacks CAP_IPC_LOCK: locking every future allocation \
         under a finite limit would make allocations fail once the state outgrows it; raise the limit to \
         unlimited (`ulimit -l unlimited`, systemd `LimitMEMLOCK=infinity`) or grant CAP_IPC_LOCK (systemd \
         `AmbientCapabilities=CAP_IPC_LOCK`)"
    )]
    FiniteLimit(u64),
    /// The kernel refused `mlockall`.
    #[error(
        "could not lock the process's memory ({0}): raise RLIMIT_MEMLOCK to unlimited (`ulimit -l unlimited`, \
         systemd `LimitMEMLOCK=infinity`) or grant CAP_IPC_LOCK"
    )]
    Refused(#[source] std::io::Error),
}

/// Locks every current and future mapping of the process in memory. Refused, before anything is
/// locked, where `RLIMIT_MEMLOCK` is finite and the process lacks `CAP_IPC_LOCK` (which lifts the
/// limit).
pub fn lock_memory() -> Result<(), LockMemoryError> {
    use rustix::mm::{MlockAllFlags, mlockall};
    use rustix::process::{Resource, getrlimit};
    let exempt = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| has_cap_ipc_lock(&s));
    if !exempt && let Some(limit) = getrlimit(Resource::Memlock).current {
        return Err(LockMemoryError::FiniteLimit(limit));
    }
    mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE).map_err(|e| LockMemoryError::Refused(e.into()))
}

/// Whether `CAP_IPC_LOCK` (capability 14) is in the effective set that a `/proc/<pid>/status` text
/// gives (`CapEff:`, hexadecimal). Unreadable means no.
fn has_cap_ipc_lock(status: &str) -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cap_ipc_lock_from_the_effective_set() {
        // Root's full set, and a service granted only CAP_IPC_LOCK.
        assert!(has_cap_ipc_lock("Name:\ttrustloop\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"));
        assert!(has_cap_ipc_lock("CapEff:\t0000000000004000\n"));
        // Root in a container with CAP_IPC_LOCK dropped; an ordinary user; no such line.
        assert!(!has_cap_ipc_lock("CapEff:\t000001ffffffbfff\n"));
        assert!(!has_cap_ipc_lock("CapPrm:\t0000000000004000\nCapEff:\t0000000000000000\n"));
        assert!(!has_cap_ipc_lock("Name:\tx\n"));
    }

    #[test]
    fn locked_memory_is_resident_and_counted() {
        // Locking needs RLIMIT_MEMLOCK room or CAP_IPC_LOCK; where neither is there, the error must
        // say how to get it.
        match lock_memory() {
            Ok(()) => {
                let status = std::fs::read_to_string("/proc/self/status").expect("status");
                let locked: u64 = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmLck:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|kb| kb.parse().ok())
                    .expect("VmLck");
                assert!(locked > 0, "mlockall succeeded but nothing is locked");
            }
            Err(e) => assert!(e.to_string().contains("RLIMIT_MEMLOCK"), "{e}"),
        }
    }
}
