//! Workloads: what to read, as a list of [`Request`]s the runner hands to an
//! engine.
//!
//! Three access patterns an ISO sees:
//! - **seq**: the whole image (or its first `limit` bytes) front to back, as a
//!   `dd`, a checksum or a copy reads it;
//! - **rand**: uniformly random reads of 2 KiB, 4 KiB or any multiple of the
//!   2048-byte ISO sector, as a live system reading files scattered over the
//!   image; deterministic from a seed (a small splitmix64 generator of our own,
//!   so the list is the same on every host and every version);
//! - **boot**: the extents a bootloader and an installer really read (volume
//!   descriptors, directories, El Torito image, kernel, initrd, in load order),
//!   passed in by the caller as [`TraceExtent`]s and cut into requests of the
//!   size a given firmware or guest driver issues ([`BootProfile`]).
//!
//! # Alignment
//! Every request starts on a 2048-byte sector and covers whole sectors (a
//! cdrom is read in sectors, so an extent whose length is not a multiple of
//! 2048 is read up to the end of its last sector). When the target is opened
//! with O_DIRECT and its offset alignment is larger than a sector (a 4Kn disk),
//! each request's offset is rounded **down** and its end rounded **up** to that
//! alignment, which is what QEMU does with `cache.direct=on`: the host then
//! reads more bytes than the guest asked for, and the results show it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::target::Target;
use crate::{Error, ErrorKind, Request, Result};

/// The ISO9660 logical sector size: every request is a multiple of it.
pub const SECTOR_BYTES: u64 = 2048;

/// Default block size of the sequential workload.
pub const DEFAULT_SEQ_BLOCK_BYTES: u32 = 1 << 20;

/// Default block size of the random workload.
pub const DEFAULT_RAND_BLOCK_BYTES: u32 = 4096;

/// Default seed of the random workload.
pub const DEFAULT_RAND_SEED: u64 = 0x1507_0e5e_ed00_0001;

/// How much the random workload reads when no size limit is given: 64 MiB
/// (or the whole target when smaller), enough for a stable IOPS figure on a
/// disk and short enough for a cold-cache run on a slow one.
pub const DEFAULT_RAND_BYTES: u64 = 64 << 20;

/// Most requests one workload may plan: 16 Mi requests (256 MiB of request
/// list). `--size 1000G` with 4 KiB random reads would otherwise plan a
/// quarter of a billion requests and allocate 4 GB before reading a byte;
/// for a long time-based run, the runtime limit stops a run anyway.
pub const MAX_REQUESTS: u64 = 1 << 24;

/// Largest request of any workload: 16 MiB (a request is one buffer per
/// queue slot; QEMU and Linux never issue larger reads to a cdrom).
pub const MAX_REQUEST_BYTES: u32 = 16 << 20;

/// What a workload reads, as stored in results and used for the fio export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkloadSpec {
    /// The target front to back in blocks of `block_bytes`.
    Seq {
        /// Bytes per request (default 1 MiB).
        block_bytes: u32,
    },
    /// Uniformly random sector-aligned reads.
    Rand {
        /// Bytes per request: 2048, 4096 or another multiple of 2048.
        block_bytes: u32,
        /// Seed of the offset generator (same seed, same offsets).
        seed: u64,
    },
    /// The boot trace cut into requests of at most `request_bytes`.
    Boot {
        /// Whose request size this imitates.
        profile: BootProfile,
        /// Largest request in bytes (the profile's, or `--request-size`).
        request_bytes: u32,
    },
}

impl WorkloadSpec {
    /// Sequential reads of `block_bytes`.
    pub fn seq(block_bytes: u32) -> Self {
        WorkloadSpec::Seq { block_bytes }
    }

    /// Random reads of `block_bytes` from `seed`.
    pub fn rand(block_bytes: u32, seed: u64) -> Self {
        WorkloadSpec::Rand { block_bytes, seed }
    }

    /// The boot trace with the request size of `profile`.
    pub fn boot(profile: BootProfile) -> Self {
        WorkloadSpec::Boot {
            profile,
            request_bytes: profile.request_bytes(),
        }
    }

    /// The boot trace with a request size given by the user.
    pub fn boot_custom(request_bytes: u32) -> Self {
        WorkloadSpec::Boot {
            profile: BootProfile::Custom,
            request_bytes,
        }
    }

    /// Bytes of the largest request of this workload.
    pub fn request_bytes(&self) -> u32 {
        match *self {
            WorkloadSpec::Seq { block_bytes } | WorkloadSpec::Rand { block_bytes, .. } => {
                block_bytes
            }
            WorkloadSpec::Boot { request_bytes, .. } => request_bytes,
        }
    }

    /// A short stable name (`seq-1m`, `rand-4k`, `boot-bios-ide`,
    /// `boot-24k`) used to match workloads between a baseline and a new run.
    pub fn default_name(&self) -> String {
        match self {
            WorkloadSpec::Seq { block_bytes } => format!("seq-{}", size_label(*block_bytes)),
            WorkloadSpec::Rand { block_bytes, .. } => {
                format!("rand-{}", size_label(*block_bytes))
            }
            WorkloadSpec::Boot {
                profile: BootProfile::Custom,
                request_bytes,
            } => format!("boot-{}", size_label(*request_bytes)),
            WorkloadSpec::Boot { profile, .. } => format!("boot-{profile}"),
        }
    }

    /// Builds the request list: `size_bytes` is the target size,
    /// `align_bytes` its O_DIRECT offset alignment (1 when buffered, see
    /// [`request_alignment`]), `limit_bytes` caps how much is read (for
    /// `rand` it sets the amount; without it [`DEFAULT_RAND_BYTES`]), and
    /// `trace` is the boot trace (ignored by seq and rand).
    pub fn build(
        &self,
        size_bytes: u64,
        align_bytes: u64,
        limit_bytes: Option<u64>,
        trace: &[TraceExtent],
    ) -> Result<Vec<Request>> {
        match *self {
            WorkloadSpec::Seq { block_bytes } => {
                seq(size_bytes, block_bytes, limit_bytes, align_bytes)
            }
            WorkloadSpec::Rand { block_bytes, seed } => {
                let amount =
                    RandAmount::Bytes(limit_bytes.unwrap_or(DEFAULT_RAND_BYTES.min(size_bytes)));
                rand(size_bytes, block_bytes, seed, amount, align_bytes)
            }
            WorkloadSpec::Boot { request_bytes, .. } => {
                let mut requests = boot(trace, request_bytes, align_bytes)?;
                if let Some(limit) = limit_bytes {
                    truncate_to_bytes(&mut requests, limit);
                }
                Ok(requests)
            }
        }
    }
}

/// Whose reads the boot workload imitates: the request size seen by the
/// storage when a VM boots from an ISO (measured with QEMU; docs/BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootProfile {
    /// SeaBIOS on an IDE cdrom: one 2048-byte sector per ATAPI command, QD1.
    BiosIde,
    /// SeaBIOS on AHCI / virtio-scsi: about 16 KiB per request, QD1.
    BiosVirtio,
    /// The Linux guest reading files through its page cache: 128 KiB per
    /// request (the sr driver's readahead). Measured the same on IDE and
    /// virtio-scsi, so this is the Linux phase of a boot on either bus.
    LinuxIde,
    /// Large direct reads: 1 MiB requests, the size of a Linux guest's large
    /// O_DIRECT reads on virtio-scsi. Not what a boot reads
    /// through the page cache (that is [`LinuxIde`](Self::LinuxIde) on both
    /// buses): an upper bound for large sequential guest reads.
    LinuxVirtio,
    /// A request size given by the user (`--request-size`).
    Custom,
}

impl BootProfile {
    /// Every named profile, for help texts and the full matrix.
    pub const NAMED: [BootProfile; 4] = [
        BootProfile::BiosIde,
        BootProfile::BiosVirtio,
        BootProfile::LinuxIde,
        BootProfile::LinuxVirtio,
    ];

    /// Request size of the profile in bytes ([`Custom`](Self::Custom) has
    /// none of its own and returns one sector).
    pub fn request_bytes(self) -> u32 {
        match self {
            BootProfile::BiosIde | BootProfile::Custom => 2048,
            BootProfile::BiosVirtio => 16 << 10,
            BootProfile::LinuxIde => 128 << 10,
            BootProfile::LinuxVirtio => 1 << 20,
        }
    }

    /// The queue depth the imitated reader uses, when it is fixed: firmware
    /// waits for each command, and an IDE/ATAPI device takes one at a time.
    /// `None` means "whatever the run is configured with".
    pub fn queue_depth_hint(self) -> Option<u32> {
        match self {
            BootProfile::BiosIde | BootProfile::BiosVirtio | BootProfile::LinuxIde => Some(1),
            BootProfile::LinuxVirtio | BootProfile::Custom => None,
        }
    }

    /// The kebab-case name used on the command line and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            BootProfile::BiosIde => "bios-ide",
            BootProfile::BiosVirtio => "bios-virtio",
            BootProfile::LinuxIde => "linux-ide",
            BootProfile::LinuxVirtio => "linux-virtio",
            BootProfile::Custom => "custom",
        }
    }
}

impl fmt::Display for BootProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BootProfile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [BootProfile::Custom]
            .into_iter()
            .chain(BootProfile::NAMED)
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "unknown boot profile `{s}` (expected bios-ide, bios-virtio, \
                         linux-ide, linux-virtio or custom)"
                    ),
                )
            })
    }
}

/// One piece of the boot trace, as the caller found it in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceExtent {
    /// Byte offset in the image (a sector boundary for ISO9660 data).
    pub offset: u64,
    /// Length in bytes (need not be a whole number of sectors).
    pub len: u64,
    /// What it is ("primary volume descriptor", "/isolinux/vmlinuz", ...).
    pub label: String,
}

/// How many random reads to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandAmount {
    /// Exactly this many requests.
    Requests(u64),
    /// As many requests as fit in this many bytes (at least one).
    Bytes(u64),
}

/// The offset alignment requests must honour on `target`: its O_DIRECT offset
/// alignment when opened with O_DIRECT, otherwise 1 (the builders always
/// align to [`SECTOR_BYTES`] anyway).
pub fn request_alignment(target: &Target) -> u64 {
    if target.direct() {
        u64::try_from(target.alignment().offset).unwrap_or(1).max(1)
    } else {
        1
    }
}

/// Sequential requests of `block_bytes` from offset 0 to the end of the target
/// or to `limit_bytes`, whichever comes first (the last request is shorter).
pub fn seq(
    size_bytes: u64,
    block_bytes: u32,
    limit_bytes: Option<u64>,
    align_bytes: u64,
) -> Result<Vec<Request>> {
    check_block(block_bytes, "block size")?;
    let unit = unit(align_bytes)?;
    // Like fio, which does not read a final partial block: a target smaller
    // than one request has nothing to measure.
    if size_bytes < u64::from(block_bytes) {
        return Err(too_small(size_bytes, u64::from(block_bytes)));
    }
    let end = limit_bytes.map_or(size_bytes, |l| l.min(size_bytes));
    if end == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "the size limit is 0 bytes: nothing to read",
        ));
    }
    let block = u64::from(block_bytes);
    check_count(end.div_ceil(block), end, block_bytes)?;
    let mut requests = Vec::with_capacity(usize::try_from(end.div_ceil(block)).unwrap_or(0));
    let mut offset = 0;
    while offset < end {
        let len = block.min(end - offset);
        push_aligned(&mut requests, offset, len, unit)?;
        offset += len;
    }
    Ok(requests)
}

/// Random requests of `block_bytes` (rounded up to the alignment) at offsets
/// drawn uniformly from the aligned positions where a whole request fits,
/// deterministic from `seed`.
pub fn rand(
    size_bytes: u64,
    block_bytes: u32,
    seed: u64,
    amount: RandAmount,
    align_bytes: u64,
) -> Result<Vec<Request>> {
    check_block(block_bytes, "block size")?;
    let unit = unit(align_bytes)?;
    let len = u64::from(block_bytes).next_multiple_of(unit);
    if size_bytes < len {
        return Err(too_small(size_bytes, len));
    }
    let len32 = request_len(len)?;
    let count = match amount {
        RandAmount::Requests(n) => n,
        RandAmount::Bytes(b) => (b / len).max(1),
    };
    check_count(count, count.saturating_mul(len), block_bytes)?;
    let slots = (size_bytes - len) / unit + 1;
    let mut rng = SplitMix64::new(seed);
    let mut requests = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for _ in 0..count {
        requests.push(Request {
            offset: rng.below(slots) * unit,
            len: len32,
        });
    }
    Ok(requests)
}

/// The boot trace cut into requests: each extent, rounded out to whole
/// sectors, in order, in pieces of `request_bytes` (the last one shorter),
/// each piece then aligned to the O_DIRECT alignment if that is larger.
pub fn boot(extents: &[TraceExtent], request_bytes: u32, align_bytes: u64) -> Result<Vec<Request>> {
    check_block(request_bytes, "request size")?;
    let unit = unit(align_bytes)?;
    if extents.iter().all(|e| e.len == 0) {
        return Err(Error::new(
            ErrorKind::Workload,
            "the image has no boot catalog / boot files: nothing to replay",
        ));
    }
    let piece = u64::from(request_bytes);
    let mut requests = Vec::new();
    for extent in extents.iter().filter(|e| e.len > 0) {
        let start = align_down(extent.offset, SECTOR_BYTES);
        let end = extent
            .offset
            .checked_add(extent.len)
            .map(|e| e.next_multiple_of(SECTOR_BYTES))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("boot extent `{}` ends past 2^64 bytes", extent.label),
                )
            })?;
        let mut offset = start;
        while offset < end {
            let len = piece.min(end - offset);
            push_aligned(&mut requests, offset, len, unit)?;
            offset += len;
        }
    }
    Ok(requests)
}

/// Total bytes of a request list.
pub fn total_bytes(requests: &[Request]) -> u64 {
    requests.iter().map(|r| u64::from(r.len)).sum()
}

/// Keeps the longest prefix of `requests` whose total is at most `limit_bytes`
/// (at least one request, so a limit below one request still measures one).
pub fn truncate_to_bytes(requests: &mut Vec<Request>, limit_bytes: u64) {
    let mut total = 0u64;
    let keep = requests
        .iter()
        .position(|r| {
            total += u64::from(r.len);
            total > limit_bytes
        })
        .unwrap_or(requests.len());
    requests.truncate(keep.max(1));
}

/// The alignment unit: the least common multiple of a sector and the
/// O_DIRECT offset alignment (equal to the larger of the two for the powers of
/// two real devices report).
fn unit(align_bytes: u64) -> Result<u64> {
    let align = align_bytes.max(1);
    let unit = SECTOR_BYTES / gcd(SECTOR_BYTES, align) * align;
    if unit > u64::from(u32::MAX / 2) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("offset alignment of {align_bytes} bytes is not usable"),
        ));
    }
    Ok(unit)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn align_down(x: u64, unit: u64) -> u64 {
    x - x % unit
}

fn push_aligned(requests: &mut Vec<Request>, offset: u64, len: u64, unit: u64) -> Result<()> {
    let start = align_down(offset, unit);
    let end = (offset + len).next_multiple_of(unit);
    requests.push(Request {
        offset: start,
        len: request_len(end - start)?,
    });
    Ok(())
}

fn request_len(len: u64) -> Result<u32> {
    u32::try_from(len).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("a request of {len} bytes is larger than 4 GiB"),
        )
    })
}

fn check_block(bytes: u32, what: &str) -> Result<()> {
    if bytes == 0 || !u64::from(bytes).is_multiple_of(SECTOR_BYTES) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{what} {bytes} is not a multiple of the 2048-byte ISO sector"),
        ));
    }
    if bytes > MAX_REQUEST_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{what} {bytes} is larger than the limit of {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Refuses a plan of more than [`MAX_REQUESTS`] requests.
fn check_count(count: u64, bytes: u64, block_bytes: u32) -> Result<()> {
    if count > MAX_REQUESTS {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "reading {bytes} bytes in {block_bytes}-byte requests takes {count} requests, \
                 more than the limit of {MAX_REQUESTS} per workload; use a smaller --size \
                 (with --runtime for a time-based run) or larger requests"
            ),
        ));
    }
    Ok(())
}

fn too_small(size_bytes: u64, request_bytes: u64) -> Error {
    Error::new(
        ErrorKind::TooSmall,
        format!("the target has {size_bytes} bytes, less than one {request_bytes}-byte request"),
    )
}

/// `2048` -> `2k`, `1048576` -> `1m`, `3072` -> `3072`.
fn size_label(bytes: u32) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{}m", bytes >> 20)
    } else if bytes.is_multiple_of(1024) {
        format!("{}k", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

/// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): one add and a mix per value, full period 2^64,
/// passes BigCrush; ample for picking offsets and fixed forever so a seed
/// means the same offsets in every version.
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0) without modulo bias: Lemire's
    /// multiply-and-reject ("Fast random integer generation in an interval",
    /// ACM TOMACS 2019).
    fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            #[allow(clippy::cast_possible_truncation)] // the low half, by design
            let low = m as u64;
            if low >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests;
