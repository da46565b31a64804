//! Drives a plugin through its C function table, as the host's loader does,
//! so a plugin's tests can round-trip JSON through the real ABI in-process.
//!
//! ```text
//! unsafe extern "C" {
//!     fn recalld_plugin_entry() -> *const plugin_api::PluginTable;
//! }
//! // SAFETY: the symbol is this crate's own export_plugin! entry point.
//! let plugin = unsafe { AbiPlugin::open(recalld_plugin_entry()) }.unwrap();
//! let reply = plugin.describe();
//! ```

#![allow(unsafe_code)]

use plugin_api::{
    ABI_MAGIC, ABI_MAJOR, Buffer, CallFn, Manifest, PluginTable, STATUS_OK, TableHeader,
};
use serde_json::Value;

/// A plugin's function table whose header passed the host's checks.
#[derive(Debug, Clone, Copy)]
pub struct AbiPlugin {
    table: &'static PluginTable,
}

/// The JSON calls of the table (everything but `describe` and `free`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Prepare,
    Interpret,
    TokenRequest,
    TokenParse,
}

/// What one call returned: its status and its output, parsed as JSON (a JSON
/// string holding the raw text if it was not JSON; `null` if empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: i32,
    pub output: Value,
}

impl AbiPlugin {
    /// Checks the table's header the way the host does: not null, the magic,
    /// the ABI major and a size covering every function this SDK knows.
    ///
    /// # Safety
    /// `table` must be what a plugin's `recalld_plugin_entry` returned: null,
    /// or a pointer to a table that stays valid for the rest of the process
    /// and whose functions honour the ABI contract.
    pub unsafe fn open(table: *const PluginTable) -> Result<Self, String> {
        if table.is_null() {
            return Err("the entry point returned a null table".to_owned());
        }
        // SAFETY: the caller promises a valid table; its frozen header comes
        // first (`repr(C)`), so reading only the header is sound in any version.
        let header = unsafe { table.cast::<TableHeader>().read() };
        if header.magic != ABI_MAGIC {
            return Err(format!("bad magic {:#x}", header.magic));
        }
        if header.abi_major != ABI_MAJOR {
            return Err(format!(
                "plugin ABI major {} but this host speaks {ABI_MAJOR}",
                header.abi_major
            ));
        }
        if header.size < std::mem::size_of::<PluginTable>() {
            return Err(format!("table size {} is too small", header.size));
        }
        // SAFETY: the size check shows the whole table is present, and the
        // caller promises it lives for the rest of the process.
        let table = unsafe { &*table };
        Ok(AbiPlugin { table })
    }

    /// The table's frozen header.
    pub fn header(&self) -> TableHeader {
        self.table.header
    }

    /// Asserts what every plugin's table must show through the ABI: the
    /// current magic, major and table size, and a `describe` that returns
    /// `expected` (the manifest the plugin gives in-process).
    pub fn assert_header_and_manifest(&self, expected: &Manifest) {
        let header = self.header();
        assert_eq!(header.magic, ABI_MAGIC);
        assert_eq!(header.abi_major, ABI_MAJOR);
        assert_eq!(header.size, std::mem::size_of::<PluginTable>());

        let described = self.describe();
        assert_eq!(described.status, STATUS_OK);
        let manifest: Manifest =
            serde_json::from_value(described.output).expect("describe returns a manifest");
        assert_eq!(&manifest, expected);
    }

    /// `describe`: the manifest JSON.
    pub fn describe(&self) -> Reply {
        let mut out = Buffer::EMPTY;
        let status = (self.table.describe)(&mut out);
        Reply {
            status,
            output: self.take(out),
        }
    }

    /// One JSON call with `input` serialised.
    pub fn call(&self, call: Call, input: &Value) -> Reply {
        self.call_bytes(call, input.to_string().as_bytes())
    }

    /// One call with raw input bytes (to test input the plugin must refuse).
    pub fn call_bytes(&self, call: Call, input: &[u8]) -> Reply {
        let function: CallFn = match call {
            Call::Prepare => self.table.prepare,
            Call::Interpret => self.table.interpret,
            Call::TokenRequest => self.table.token_request,
            Call::TokenParse => self.table.token_parse,
        };
        let mut out = Buffer::EMPTY;
        // SAFETY: `input` is valid for `len` bytes for the whole call and
        // `out` for one write, which is the ABI contract `open` relied on.
        let status = unsafe { function(input.as_ptr(), input.len(), &mut out) };
        Reply {
            status,
            output: self.take(out),
        }
    }

    /// Copies an output buffer and hands it back to the plugin's `free`.
    fn take(&self, out: Buffer) -> Value {
        if out.ptr.is_null() {
            return Value::Null;
        }
        // SAFETY: the plugin wrote `out` with `len` readable bytes that stay
        // valid until they are passed to its `free`, just below.
        let bytes = unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec();
        // SAFETY: this buffer came from this plugin and is freed exactly once.
        unsafe { (self.table.free)(out.ptr, out.len) };
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    }
}
