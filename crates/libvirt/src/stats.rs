//! `virDomainBlockStatsFlags`: the read counters of one drive, including
//! `rd_total_times`, which the bindings' `Domain::block_stats` (the older
//! `virDomainBlockStats`) does not return. One of the crate's two FFI modules (with `bulk`).

#![allow(unsafe_code)]

use std::ffi::{c_int, c_longlong, CString};

use virt::domain::Domain;
use virt::sys;

use crate::scan::BlockReadStats;

/// The read counters of drive `target` (`hdc`, `sda`) of a running domain.
pub(crate) fn block_read_stats(
    dom: &Domain,
    target: &str,
) -> Result<BlockReadStats, virt::error::Error> {
    // A target with a NUL byte becomes "", which libvirt refuses as unknown.
    let disk = CString::new(target).unwrap_or_default();
    let mut nparams: c_int = 0;
    // SAFETY: `dom` is a live domain handle; a null params pointer with
    // nparams = 0 asks libvirt for the number of parameters only.
    let r = unsafe {
        sys::virDomainBlockStatsFlags(
            dom.as_ptr(),
            disk.as_ptr(),
            std::ptr::null_mut(),
            &mut nparams,
            0,
        )
    };
    if r < 0 {
        return Err(virt::error::Error::last_error());
    }
    let len = usize::try_from(nparams).unwrap_or(0);
    let mut params: Vec<sys::virTypedParameter> = Vec::with_capacity(len);
    // SAFETY: `params` has room for `nparams` entries, which libvirt fills
    // and then reports how many it filled in `nparams`.
    let r = unsafe {
        sys::virDomainBlockStatsFlags(
            dom.as_ptr(),
            disk.as_ptr(),
            params.as_mut_ptr(),
            &mut nparams,
            0,
        )
    };
    if r < 0 {
        return Err(virt::error::Error::last_error());
    }
    let filled = usize::try_from(nparams).unwrap_or(0).min(len);
    // SAFETY: libvirt initialised the first `filled` entries.
    unsafe { params.set_len(filled) };
    let get = |params: &mut Vec<sys::virTypedParameter>, name: &std::ffi::CStr| {
        let mut v: c_longlong = 0;
        // SAFETY: `params` holds `filled` initialised entries and `name` is
        // NUL-terminated; libvirt only reads them and writes `v`.
        let found = unsafe {
            sys::virTypedParamsGetLLong(params.as_mut_ptr(), filled as c_int, name.as_ptr(), &mut v)
        };
        (found == 1).then(|| u64::try_from(v).unwrap_or(0))
    };
    let stats = BlockReadStats {
        rd_req: get(&mut params, sys::VIR_DOMAIN_BLOCK_STATS_READ_REQ),
        rd_bytes: get(&mut params, sys::VIR_DOMAIN_BLOCK_STATS_READ_BYTES),
        rd_total_times_ns: get(&mut params, sys::VIR_DOMAIN_BLOCK_STATS_READ_TOTAL_TIMES),
    };
    // SAFETY: frees any strings libvirt allocated inside the entries (block
    // stats are numbers, so this is a formality); the Vec frees the array.
    unsafe { sys::virTypedParamsClear(params.as_mut_ptr(), filled as c_int) };
    Ok(stats)
}
