//! The callbacks the module exports: where the host calls in (the proxy-wasm ABI 0.2.1). Each
//! finds the context it is for and hands over to `root.rs` (configuration, ticks, key fetches)
//! or `http.rs` (a request).
//!
//! Why not the SDK's dispatcher: a host calls a module only for the callbacks it exports
//! (proxy-wasm-cpp-host checks each), and every call is a VM entry. The SDK exports all of them
//! and keeps a boxed context per stream in a map, created and removed on every stream. Here a
//! stream that needs nothing kept (a noAuth or cached-token request without response edits) leaves
//! nothing behind: no allocation, no map entry. Kept per stream, and only then: a request held for
//! a call's answer or for keys, and the edits for its response.
//!
//! No borrow of the registry is held while a request is decided or performed: a host call made
//! then may call back into the module (a resume, a reply), and that callback must find it free.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::host;
use super::http::{self, Stream};
use super::perform::Action;
use super::root::Root;
use super::state::Shared;

struct Contexts {
    /// Root contexts by id: one per plugin configuration this VM serves (two while Envoy moves
    /// from one configuration to the next).
    roots: Vec<(u32, Root)>,
    /// The root of each stream, recorded only while the VM has more than one root.
    owners: BTreeMap<u32, u32>,
    /// Streams with something kept between callbacks.
    streams: BTreeMap<u32, Stream>,
    /// The stream waiting for each call's answer, by token: the host hands every answer to the
    /// root context that owns the call.
    calls: BTreeMap<u32, u32>,
}

impl Contexts {
    /// Keeps what a stream's callback left, and notes the call it waits for.
    fn keep(&mut self, id: u32, stream: Stream) {
        if let Some(token) = stream.call_token() {
            self.calls.insert(token, id);
        }
        self.streams.insert(id, stream);
    }
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> = const {
        RefCell::new(Contexts {
            roots: Vec::new(),
            owners: BTreeMap::new(),
            streams: BTreeMap::new(),
            calls: BTreeMap::new(),
        })
    };
}

fn with<R>(f: impl FnOnce(&mut Contexts) -> R) -> Option<R> {
    CONTEXTS.with(|c| c.try_borrow_mut().ok().map(|mut c| f(&mut c)))
}

/// Keeps what a stream's callback left, if anything.
fn keep(id: u32, stream: Option<Stream>) {
    let Some(stream) = stream else { return };
    if with(|c| c.keep(id, stream)).is_none() {
        // Only a callback into the module from inside another could find it busy; Envoy
        // defers those. The request would wait for nothing: say so.
        log::error!("context registry in use; stream {id} lost its state");
    }
}

/// A root the host configures without announcing it first (the ABI lets a host skip
/// `proxy_on_context_create`).
fn ensure_root(id: u32) {
    with(|c| {
        if !c.roots.iter().any(|(r, _)| *r == id) {
            c.roots.push((id, Root::new(id)));
        }
    });
}

/// Runs `f` on root `id`, taken out of the registry meanwhile (a host call in `f` may call back
/// in, for a stream); `None` for a root the module does not know.
fn with_root<R>(id: u32, f: impl FnOnce(&mut Root) -> R) -> Option<R> {
    let mut root = with(|c| {
        let i = c.roots.iter().position(|(r, _)| *r == id)?;
        Some(std::mem::replace(&mut c.roots[i].1, Root::new(id)))
    })
    .flatten()?;
    let out = f(&mut root);
    with(|c| {
        if let Some((_, slot)) = c.roots.iter_mut().find(|(r, _)| *r == id) {
            *slot = root;
        }
    });
    Some(out)
}

/// The configuration a stream is decided with: its root's.
fn shared_of(c: &Contexts, stream: u32) -> Option<Shared> {
    let root = match c.owners.get(&stream) {
        Some(root) => c.roots.iter().find(|(r, _)| r == root),
        None if c.roots.len() == 1 => c.roots.first(),
        None => None,
    };
    root.and_then(|(_, r)| r.shared())
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host's buffers for the module (header maps, bodies): a `Vec<u8>` of exactly `size`
/// bytes, forgotten, which `host.rs` takes back.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::with_capacity(size);
    let data = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    data
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// The module's start: constructors, then the logger and the panic hook.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: called once, by the host, before any other export.
    unsafe {
        __wasm_call_ctors();
    }
    super::install_logging();
}

/// A root context (`root == 0`) or a stream of root `root`. Streams are recorded only when the
/// VM has more than one root: the only root is every stream's.
#[no_mangle]
pub extern "C" fn proxy_on_context_create(id: u32, root: u32) {
    if root == 0 {
        ensure_root(id);
        return;
    }
    with(|c| {
        if c.roots.len() != 1 || c.roots.first().map(|(r, _)| *r) != Some(root) {
            c.owners.insert(id, root);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(root: u32, size: usize) -> u32 {
    ensure_root(root);
    with_root(root, |r| r.on_vm_start(size)).unwrap_or(false) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(root: u32, size: usize) -> u32 {
    ensure_root(root);
    with_root(root, |r| r.on_configure(size)).unwrap_or(false) as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(root: u32) {
    with_root(root, Root::on_tick);
}

#[no_mangle]
pub extern "C" fn proxy_on_request_headers(id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    let shared = with(|c| shared_of(c, id)).flatten();
    let (action, kept) = http::on_request_headers(id, shared);
    keep(id, kept);
    action as u32
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(id: u32, _headers: usize, _end_of_stream: u32) -> u32 {
    if let Some(stream) = with(|c| c.streams.remove(&id)).flatten() {
        let (action, kept) = http::on_response_headers(id, stream);
        keep(id, kept);
        return action as u32;
    }
    Action::Continue as u32
}

/// A call's answer, handed to the root context `id`: for a stream's call (introspection, an
/// authorizer, client credentials) that stream decides again, in its own context; otherwise it
/// is the root's (JWKS).
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    id: u32,
    token: u32,
    headers: usize,
    body_size: usize,
    _trailers: usize,
) {
    let waiting = with(|c| {
        let stream = c.calls.remove(&token)?;
        Some((stream, c.streams.remove(&stream)))
    })
    .flatten();
    match waiting {
        Some((stream_id, Some(stream))) => {
            if host::set_effective_context(stream_id).is_err() {
                // Gone without its deletion reaching the module: nothing to answer.
                return;
            }
            let kept = http::on_call_response(stream_id, stream, token, headers, body_size);
            keep(stream_id, kept);
        }
        // The stream is gone: its answer is dropped.
        Some((_, None)) => {}
        None => {
            with_root(id, |r| r.on_http_call_response(token, headers, body_size));
        }
    }
}

/// A stream or a root is gone: whatever was kept for it goes too.
#[no_mangle]
pub extern "C" fn proxy_on_delete(id: u32) {
    let (stream, root) = with(|c| {
        c.owners.remove(&id);
        let root = c
            .roots
            .iter()
            .position(|(r, _)| *r == id)
            .map(|i| c.roots.remove(i).1);
        let stream = c.streams.remove(&id);
        if let Some(token) = stream.as_ref().and_then(Stream::call_token) {
            c.calls.remove(&token);
        }
        (stream, root)
    })
    .unwrap_or_default();
    if let Some(stream) = stream {
        http::on_delete(id, stream);
    }
    // Dropped outside the registry: its state may hold what a drop logs.
    drop(root);
}
