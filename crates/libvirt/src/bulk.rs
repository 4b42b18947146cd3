//! `virConnectGetAllDomainStats(VIR_DOMAIN_STATS_BLOCK)` with
//! `VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT`: the read counters of every
//! disk of every running domain in one call, without waiting for a domain
//! busy in a job (a migration, a shutdown, a hung QEMU monitor): libvirt
//! leaves such a domain out instead. The bindings do not read the records
//! (`DomainStatsRecord` is a bare pointer there, and their list is freed
//! without its records), hence this FFI.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{c_char, c_uint, c_ulonglong, CStr, CString};

use virt::connect::Connect;
use virt::sys;

use crate::scan::BlockReadStats;

/// Domain name -> disk target (`hdc`, `sda`) -> read counters.
pub(crate) type BulkBlockStats = HashMap<String, HashMap<String, BlockReadStats>>;

/// The block read counters of every running domain that is not busy.
pub(crate) fn all_block_read_stats_nowait(
    conn: &Connect,
) -> Result<BulkBlockStats, virt::error::Error> {
    let mut records: *mut sys::virDomainStatsRecordPtr = std::ptr::null_mut();
    // SAFETY: `conn` is an open connection; libvirt allocates the record
    // list, stores it in `records`, and it is freed below with libvirt's
    // own function.
    let n = unsafe {
        sys::virConnectGetAllDomainStats(
            conn.as_ptr(),
            sys::VIR_DOMAIN_STATS_BLOCK,
            &mut records,
            sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
                | sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
        )
    };
    if n < 0 {
        return Err(virt::error::Error::last_error());
    }
    let mut out = HashMap::new();
    for i in 0..usize::try_from(n).unwrap_or(0) {
        // SAFETY: libvirt returned `n` valid record pointers; each record,
        // its domain handle and its params stay valid until the list is
        // freed below.
        let (dom, params, nparams) = unsafe {
            let rec = *records.add(i);
            ((*rec).dom, (*rec).params, (*rec).nparams)
        };
        // SAFETY: `dom` is the record's live handle; the name it returns is
        // owned by the handle.
        let name = unsafe { sys::virDomainGetName(dom) };
        if name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated string owned by the handle.
        let name = unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned();
        let ullong = |key: &str| -> Option<u64> {
            let key = CString::new(key).ok()?;
            let mut v: c_ulonglong = 0;
            // SAFETY: `params`/`nparams` are the record's; libvirt reads
            // them and writes `v`.
            let found =
                unsafe { sys::virTypedParamsGetULLong(params, nparams, key.as_ptr(), &mut v) };
            (found == 1).then_some(v)
        };
        let mut count: c_uint = 0;
        // SAFETY: as above.
        let found = unsafe {
            sys::virTypedParamsGetUInt(params, nparams, c"block.count".as_ptr(), &mut count)
        };
        if found != 1 {
            count = 0;
        }
        let mut disks = HashMap::new();
        for b in 0..count {
            let Ok(key) = CString::new(format!("block.{b}.name")) else {
                continue;
            };
            let mut s: *const c_char = std::ptr::null();
            // SAFETY: as above; the string stays owned by the record.
            let found =
                unsafe { sys::virTypedParamsGetString(params, nparams, key.as_ptr(), &mut s) };
            if found != 1 || s.is_null() {
                continue;
            }
            // SAFETY: a NUL-terminated string owned by the record.
            let target = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
            disks.insert(
                target,
                BlockReadStats {
                    rd_req: ullong(&format!("block.{b}.rd.reqs")),
                    rd_bytes: ullong(&format!("block.{b}.rd.bytes")),
                    rd_total_times_ns: ullong(&format!("block.{b}.rd.times")),
                },
            );
        }
        out.insert(name, disks);
    }
    // SAFETY: the list libvirt allocated above, freed once, records and all.
    unsafe { sys::virDomainStatsRecordListFree(records) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libvirt's in-process test driver: its running domain is in the
    /// bulk stats (no disk there, so no counters).
    #[test]
    fn the_test_driver_answers_the_bulk_call() {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some("test:///default")).unwrap();
        let stats = all_block_read_stats_nowait(&conn).unwrap();
        assert!(stats.contains_key("test"), "{stats:?}");
    }
}
