//! The plugin side of the ABI: turning a safe [`Plugin`](crate::Plugin) into
//! `extern "C"` functions. Used through [`export_plugin!`](crate::export_plugin).
//!
//! This is one of the two places in recalld where `unsafe` lives (the other is
//! the host's loader).

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{Buffer, STATUS_BAD_INPUT, STATUS_ERROR, STATUS_OK, STATUS_PANIC};
use crate::types::PluginError;

/// Moves `bytes` to the heap and hands ownership to the caller through `out`.
///
/// # Safety
/// `out` must be null or valid for a write of one `Buffer`.
unsafe fn write_out(out: *mut Buffer, bytes: Vec<u8>) {
    if out.is_null() {
        return;
    }
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    let len = boxed.len();
    let ptr = Box::into_raw(boxed) as *mut u8;
    // SAFETY: the caller promised `out` is valid for one write.
    unsafe { out.write(Buffer { ptr, len }) };
}

fn error_json(error: &PluginError) -> Vec<u8> {
    serde_json::to_vec(error).unwrap_or_else(|_| b"{}".to_vec())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the plugin panicked".to_owned()
    }
}

/// `value` as JSON, in a buffer that starts with room for a typical request
/// or outcome (a few hundred bytes) instead of growing from nothing.
fn to_json(value: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

/// Runs `f` with panics caught, writing its JSON result (or error) to `out`.
fn guarded<O: Serialize>(
    out: *mut Buffer,
    f: impl FnOnce() -> Result<O, (i32, PluginError)>,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(f));
    let (status, bytes) = match result {
        Ok(Ok(value)) => match to_json(&value) {
            Ok(bytes) => (STATUS_OK, bytes),
            Err(e) => (
                STATUS_ERROR,
                error_json(&PluginError::new("serialize", e.to_string())),
            ),
        },
        Ok(Err((status, error))) => (status, error_json(&error)),
        Err(payload) => (
            STATUS_PANIC,
            error_json(&PluginError::new("plugin_panic", panic_message(&*payload))),
        ),
    };
    // Serialising the error cannot panic in practice, but the write is outside
    // the guard, so keep it trivially panic-free.
    // SAFETY: the host passes a valid `out` pointer (ABI contract).
    unsafe { write_out(out, bytes) };
    status
}

/// `describe`: the plugin's manifest as JSON.
pub fn describe<P: crate::Plugin + 'static>(
    plugin: impl FnOnce() -> &'static P,
    out: *mut Buffer,
) -> i32 {
    guarded(out, || Ok(plugin().manifest()))
}

/// A call taking JSON input `I` and producing JSON output `O`.
///
/// # Safety
/// `input` must be null (with `len == 0`) or valid for reads of `len` bytes
/// for the duration of the call; `out` must be valid for one write.
pub unsafe fn call<I: DeserializeOwned, O: Serialize>(
    input: *const u8,
    len: usize,
    out: *mut Buffer,
    f: impl FnOnce(I) -> Result<O, PluginError>,
) -> i32 {
    let bytes: &[u8] = if input.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `input` is valid for `len` bytes.
        unsafe { std::slice::from_raw_parts(input, len) }
    };
    guarded(out, || {
        let parsed: I = serde_json::from_slice(bytes).map_err(|e| {
            (
                STATUS_BAD_INPUT,
                PluginError::new("bad_input", format!("input JSON: {e}")),
            )
        })?;
        f(parsed).map_err(|e| (STATUS_ERROR, e))
    })
}

/// `free`: releases a buffer produced by [`call`] or [`describe`].
///
/// # Safety
/// `(ptr, len)` must come from a `Buffer` this module wrote, freed once.
pub unsafe fn free(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr`/`len` came from `Box::<[u8]>::into_raw` in `write_out`.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Exports a [`Plugin`](crate::Plugin) implementation through the stable ABI.
///
/// The type must implement `Default`; one instance is created lazily and
/// shared by all calls. Use it once per `cdylib` crate:
///
/// ```text
/// plugin_api::export_plugin!(MyAdapter);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(panic = "abort")]
        compile_error!(
            "recalld plugins must be built with panic = \"unwind\": a panic inside a plugin \
             must be caught at the ABI boundary, which panic = \"abort\" makes impossible"
        );

        const _: () = {
            use $crate::__private;

            fn __recalld_instance() -> &'static $plugin {
                static INSTANCE: ::std::sync::OnceLock<$plugin> = ::std::sync::OnceLock::new();
                INSTANCE.get_or_init(<$plugin as ::std::default::Default>::default)
            }

            extern "C" fn __recalld_describe(out: *mut $crate::Buffer) -> i32 {
                __private::describe(__recalld_instance, out)
            }

            unsafe extern "C" fn __recalld_prepare(
                input: *const u8,
                len: usize,
                out: *mut $crate::Buffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for `input` and `out`.
                unsafe {
                    __private::call(input, len, out, |i: $crate::PrepareInput| {
                        $crate::Plugin::prepare(__recalld_instance(), &i)
                    })
                }
            }

            unsafe extern "C" fn __recalld_interpret(
                input: *const u8,
                len: usize,
                out: *mut $crate::Buffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for `input` and `out`.
                unsafe {
                    __private::call(input, len, out, |i: $crate::InterpretInput| {
                        $crate::Plugin::interpret(__recalld_instance(), &i)
                    })
                }
            }

            unsafe extern "C" fn __recalld_token_request(
                input: *const u8,
                len: usize,
                out: *mut $crate::Buffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for `input` and `out`.
                unsafe {
                    __private::call(input, len, out, |i: $crate::TokenInput| {
                        $crate::Plugin::token_request(__recalld_instance(), &i)
                    })
                }
            }

            unsafe extern "C" fn __recalld_token_parse(
                input: *const u8,
                len: usize,
                out: *mut $crate::Buffer,
            ) -> i32 {
                // SAFETY: the host upholds the ABI contract for `input` and `out`.
                unsafe {
                    __private::call(input, len, out, |i: $crate::TokenParseInput| {
                        $crate::Plugin::token_parse(__recalld_instance(), &i)
                    })
                }
            }

            unsafe extern "C" fn __recalld_free(ptr: *mut u8, len: usize) {
                // SAFETY: the host only frees buffers this plugin returned, once.
                unsafe { __private::free(ptr, len) }
            }

            static TABLE: $crate::PluginTable = $crate::PluginTable {
                header: $crate::PluginTable::header(),
                describe: __recalld_describe,
                prepare: __recalld_prepare,
                interpret: __recalld_interpret,
                token_request: __recalld_token_request,
                token_parse: __recalld_token_parse,
                free: __recalld_free,
            };

            #[unsafe(no_mangle)]
            pub extern "C" fn recalld_plugin_entry() -> *const $crate::PluginTable {
                &TABLE
            }
        };
    };
}
