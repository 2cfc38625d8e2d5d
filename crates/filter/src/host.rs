//! The host ABI, called directly, so that nothing the host hands over can panic the VM.
//!
//! The SDK's `hostcalls` wrappers unwrap UTF-8 conversions of header names and values (a single
//! obs-text byte such as `caf\xE9` killed the worker for good) and `panic!` on any status they do
//! not expect; a status outside the SDK's `Status` enum is even undefined behaviour there. Here
//! every import returns a plain `u32`, every buffer the host fills is taken back as bytes, and
//! every failure is a value. The module does not link the SDK at all: its callbacks are
//! `exports.rs`.

use std::ptr::{null, null_mut};
use std::time::Duration;

use apirule_core::request::HeaderList;

/// A proxy-wasm result code (`WasmResult` in proxy-wasm-cpp-host): 0 is success.
pub type Code = u32;
pub const OK: Code = 0;
pub const NOT_FOUND: Code = 1;
pub const CAS_MISMATCH: Code = 8;

/// Header maps (request, response, a call's response headers), as numbered by the ABI.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Map {
    Request = 0,
    Response = 2,
    CallResponse = 6,
}

/// Buffers, as numbered by the ABI.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Buffer {
    CallResponseBody = 4,
    PluginConfiguration = 7,
}

// Declared for every target, as the SDK does: natively nothing calls them, so nothing links them.
#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, data: *const u8, size: usize) -> u32;
    fn proxy_get_log_level(level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_send_local_response(
        status: u32,
        details: *const u8,
        details_size: usize,
        body: *const u8,
        body_size: usize,
        headers: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_continue_stream(stream: u32) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream: *const u8,
        upstream_size: usize,
        headers: *const u8,
        headers_size: usize,
        body: *const u8,
        body_size: usize,
        trailers: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
}

fn result(code: Code) -> Result<(), Code> {
    if code == OK {
        Ok(())
    } else {
        Err(code)
    }
}

/// Takes back a buffer the host allocated through `proxy_on_memory_allocate` (`exports.rs`: a
/// `Vec<u8>` of exactly `size` bytes, forgotten), or nothing.
///
/// # Safety
/// `data` is null or was returned by the host for exactly `size` bytes.
unsafe fn owned(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Calls `f` with out-pointers for a host-allocated buffer: `Ok(None)` when the host has none.
fn fetch(f: impl FnOnce(*mut *mut u8, *mut usize) -> Code) -> Result<Option<Vec<u8>>, Code> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let code = f(&mut data, &mut size);
    // SAFETY: the host filled `data`/`size` (or left null/0) for this call only.
    let bytes = unsafe { owned(data, size) };
    match code {
        OK => Ok(Some(bytes)),
        NOT_FOUND => Ok(None),
        other => Err(other),
    }
}

pub fn log(level: u32, message: &str) {
    // SAFETY: a valid slice for the duration of the call.
    let _ = unsafe { proxy_log(level, message.as_ptr(), message.len()) };
}

/// Envoy's log level for the wasm component (0 trace .. 5 critical).
pub fn log_level() -> Option<u32> {
    let mut level = 0;
    // SAFETY: a valid out-pointer.
    (unsafe { proxy_get_log_level(&mut level) } == OK).then_some(level)
}

pub fn now_ms() -> u64 {
    let mut ns = 0u64;
    // SAFETY: a valid out-pointer.
    if unsafe { proxy_get_current_time_nanoseconds(&mut ns) } == OK {
        ns / 1_000_000
    } else {
        0
    }
}

pub fn set_tick_period(period: Duration) {
    let ms = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: no pointers.
    let _ = unsafe { proxy_set_tick_period_milliseconds(ms) };
}

pub fn buffer(kind: Buffer, max: usize) -> Option<Vec<u8>> {
    // SAFETY: valid out-pointers.
    fetch(|d, s| unsafe { proxy_get_buffer_bytes(kind as u32, 0, max, d, s) })
        .ok()
        .flatten()
}

/// A whole header map as bytes: empty when the host has none, `None` when the host refused or
/// the encoding is broken.
pub fn map(map: Map) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    map_block(map).map(|b| b.to_owned_pairs())
}

/// A whole header map in one host call, kept as the host's buffer: empty when the host has none
/// (`NOT_FOUND`), `None` when the host refused or the encoding is broken.
pub fn map_block(map: Map) -> Option<Block> {
    // SAFETY: valid out-pointers.
    let bytes = fetch(|d, s| unsafe { proxy_get_header_map_pairs(map as u32, d, s) })
        .ok()?
        .unwrap_or_default();
    Block::decode(bytes)
}

/// One header's value as bytes (the first, as Envoy joins nothing here).
pub fn map_value(map: Map, name: &str) -> Result<Option<Vec<u8>>, Code> {
    // SAFETY: a valid key slice and out-pointers.
    fetch(|d, s| unsafe { proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), d, s) })
}

pub fn set_map_value(map: Map, name: &str, value: &[u8]) -> Result<(), Code> {
    // SAFETY: valid slices for the duration of the call.
    result(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn remove_map_value(map: Map, name: &str) -> Result<(), Code> {
    // SAFETY: a valid slice.
    result(unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) })
}

/// A property (`["source", "address"]`) as bytes.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    let mut encoded = Vec::new();
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            encoded.push(0);
        }
        encoded.extend_from_slice(part.as_bytes());
    }
    // SAFETY: a valid path slice and out-pointers.
    fetch(|d, s| unsafe { proxy_get_property(encoded.as_ptr(), encoded.len(), d, s) })
        .ok()
        .flatten()
}

/// Shared data: the value and its compare-and-swap token (`None`: no such key).
pub fn shared_data(key: &str) -> Result<(Option<Vec<u8>>, u32), Code> {
    let mut cas = 0u32;
    // SAFETY: a valid key slice and out-pointers.
    let value =
        fetch(|d, s| unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), d, s, &mut cas) })?;
    Ok((value, cas))
}

/// Writes shared data; `cas` 0 writes unconditionally. `Err(CAS_MISMATCH)`: another worker won.
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Code> {
    // SAFETY: valid slices.
    result(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// A local reply with these headers and body.
pub fn send_reply(status: u32, headers: &[(&str, &[u8])], body: &[u8]) -> Result<(), Code> {
    let encoded = encode_pairs(headers);
    // SAFETY: valid slices; a gRPC status of -1 means "not gRPC".
    result(unsafe {
        proxy_send_local_response(
            status,
            null(),
            0,
            body.as_ptr(),
            body.len(),
            encoded.as_ptr(),
            encoded.len(),
            -1,
        )
    })
}

/// Resumes the request stream of the effective context.
pub fn resume_request() -> Result<(), Code> {
    // SAFETY: no pointers; 0 is the request stream.
    result(unsafe { proxy_continue_stream(0) })
}

pub fn set_effective_context(context_id: u32) -> Result<(), Code> {
    // SAFETY: no pointers.
    result(unsafe { proxy_set_effective_context(context_id) })
}

pub fn call_foreign(name: &str, args: &[u8]) -> Result<Option<Vec<u8>>, Code> {
    // SAFETY: valid slices and out-pointers.
    fetch(|d, s| unsafe {
        proxy_call_foreign_function(name.as_ptr(), name.len(), args.as_ptr(), args.len(), d, s)
    })
}

/// A counter; `None` when the host refuses it.
pub fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0;
    // SAFETY: a valid slice and out-pointer; 0 is a counter.
    (unsafe { proxy_define_metric(0, name.as_ptr(), name.len(), &mut id) } == OK).then_some(id)
}

pub fn increment(id: u32, by: i64) {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_increment_metric(id, by) };
}

/// Starts an HTTP call from the effective context; its answer comes to that context's root
/// (`proxy_on_http_call_response`), with the token returned here. Header names and values are
/// checked first, as Envoy checks them (BadArgument).
pub fn dispatch(
    cluster: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<u32, Code> {
    if headers.iter().any(|(k, v)| {
        !apirule_core::headers::valid_name(k) || !apirule_core::headers::valid_value(v.as_bytes())
    }) {
        return Err(2);
    }
    let pairs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    let encoded = encode_pairs(&pairs);
    let trailers = encode_pairs(&[]);
    let timeout_ms = call_timeout_ms(timeout);
    let mut token = 0;
    // SAFETY: valid slices and out-pointer.
    result(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            encoded.as_ptr(),
            encoded.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}

/// A call's timeout as the ABI carries it: Envoy reads it as a signed int and refuses a negative
/// one, so a longer timeout (`giveUpAfter: 1000h`) is the longest it takes, not every call
/// refused.
fn call_timeout_ms(timeout: Duration) -> u32 {
    u32::try_from(timeout.as_millis().min(i32::MAX as u128)).unwrap_or(0)
}

/// A header map as the host encoded it: a count, then (name size, value size) pairs, then each
/// name and value followed by a NUL. Checked once, read in place: reading a request's headers
/// costs one host call and no copy per header.
#[derive(Debug, Default)]
pub struct Block {
    bytes: Vec<u8>,
    /// (name start, name end, value start, value end) in `bytes`, all within bounds.
    spans: Vec<[usize; 4]>,
}

impl Block {
    /// Bounds checks only: a short or inconsistent map is `None`.
    pub fn decode(bytes: Vec<u8>) -> Option<Block> {
        if bytes.is_empty() {
            return Some(Block::default());
        }
        let word = |at: usize| -> Option<usize> {
            let b = bytes.get(at..at.checked_add(4)?)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let count = word(0)?;
        // Each pair needs at least 8 bytes of sizes and two NULs: refuse counts the buffer
        // can't hold.
        if count > bytes.len() / 10 {
            return None;
        }
        let mut spans = Vec::with_capacity(count);
        let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
        for n in 0..count {
            let name_end = at.checked_add(word(4 + n * 8)?)?;
            let value_start = name_end.checked_add(1)?;
            let value_end = value_start.checked_add(word(8 + n * 8)?)?;
            if value_end > bytes.len() {
                return None;
            }
            spans.push([at, name_end, value_start, value_end]);
            at = value_end.checked_add(1)?;
        }
        Some(Block { bytes, spans })
    }

    /// Every (name, value), in the host's order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        // Spans were checked against `bytes` when decoded.
        self.spans.iter().map(|&[a, b, c, d]| {
            (
                self.bytes.get(a..b).unwrap_or_default(),
                self.bytes.get(c..d).unwrap_or_default(),
            )
        })
    }

    /// The request's headers for the core, read in this buffer, when it is all UTF-8 and every
    /// span a slice of it (which [`HeaderList::over`] checks); otherwise the same pairs as a
    /// block. Pseudo-headers are left out. The sizes before the first name are blanked first:
    /// they are binary, and the spans replace them.
    pub fn into_headers(mut self) -> Result<HeaderList, Block> {
        let start = self.spans.first().map_or(self.bytes.len(), |s| s[0]);
        if let Some(sizes) = self.bytes.get_mut(..start) {
            sizes.fill(b' ');
        }
        let (bytes, spans) = match String::from_utf8(self.bytes) {
            Ok(text) => match HeaderList::over(text, self.spans) {
                Ok(list) => return Ok(list),
                Err((text, spans)) => (text.into_bytes(), spans),
            },
            Err(e) => (e.into_bytes(), self.spans),
        };
        Err(Block { bytes, spans })
    }

    /// Every pair, copied (a call's answer, kept past the callback).
    pub fn to_owned_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.pairs()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// The first value of `name`, as `proxy_get_header_map_value` answers (names compared
    /// case-insensitively, as Envoy does).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// The same, owned pair by pair (the tests' view of it).
#[cfg(test)]
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    Block::decode(bytes.to_vec()).map(|b| b.to_owned_pairs())
}

pub fn encode_pairs(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let size = 4 + pairs
        .iter()
        .map(|(k, v)| 10 + k.len() + v.len())
        .sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envoy refuses a timeout of 2^31 ms or more (a signed int): it is clamped, not wrapped.
    #[test]
    fn call_timeouts_fit_envoys_signed_int() {
        let ms = |ms: u64| call_timeout_ms(Duration::from_millis(ms));
        assert_eq!(ms(0), 0);
        assert_eq!(ms(2_500), 2_500);
        assert_eq!(ms(i32::MAX as u64), i32::MAX as u32);
        for long in [1u64 << 31, u32::MAX as u64, 1000 * 3600 * 1000, u64::MAX] {
            assert_eq!(ms(long), i32::MAX as u32, "{long}");
        }
    }

    #[test]
    fn pairs_round_trip_with_any_bytes() {
        let value: &[u8] = b"caf\xE9\x00\xff";
        let encoded = encode_pairs(&[("x-note", value), (":path", b"/")]);
        assert_eq!(
            decode_pairs(&encoded),
            Some(vec![
                (b"x-note".to_vec(), value.to_vec()),
                (b":path".to_vec(), b"/".to_vec())
            ])
        );
    }

    #[test]
    fn broken_encodings_are_refused_not_panicked_on() {
        let good = encode_pairs(&[("a", b"b"), ("cc", b"dd")]);
        for cut in 0..good.len() {
            let _ = decode_pairs(&good[..cut]);
        }
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_pairs(&huge), None);
        let mut long = good.clone();
        long[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_pairs(&long), None);
        // Every single-byte corruption decodes or is refused.
        for i in 0..good.len() {
            for b in [0u8, 1, 0x7f, 0xff] {
                let mut c = good.clone();
                c[i] = b;
                let _ = decode_pairs(&c);
            }
        }
    }
}

/// The shell's unit tests run natively, where there is no host: the one import their code
/// reaches (signature checks through `HostCrypto`) answers "no such function", as a host without
/// `verify_signature` would.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod no_host {
    #[no_mangle]
    pub extern "C" fn proxy_call_foreign_function(
        _name: *const u8,
        _name_size: usize,
        _args: *const u8,
        _args_size: usize,
        _data: *mut *mut u8,
        _size: *mut usize,
    ) -> u32 {
        super::NOT_FOUND
    }
}
