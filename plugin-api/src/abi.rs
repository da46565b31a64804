//! The raw, frozen C ABI. See the crate docs for the rules.

/// First field of every table: ASCII `RECALLD1` read as a little-endian u64.
pub const ABI_MAGIC: u64 = u64::from_le_bytes(*b"RECALLD1");
/// Bumped on any incompatible change; hosts refuse plugins of another major.
pub const ABI_MAJOR: u32 = 1;
/// Bumped when functions or optional JSON fields are appended. 1.1 added
/// `InterpretInput.attempt`.
pub const ABI_MINOR: u32 = 1;
/// The one symbol a plugin exports, NUL-terminated for `dlsym`.
pub const ENTRY_SYMBOL: &[u8] = b"recalld_plugin_entry\0";

/// The call succeeded; the output holds its JSON result.
pub const STATUS_OK: i32 = 0;
/// The plugin refused the input; the output holds a JSON `PluginError`.
pub const STATUS_ERROR: i32 = 1;
/// The plugin panicked and the panic was caught; the output may hold a `PluginError`.
pub const STATUS_PANIC: i32 = 2;
/// The input was not valid JSON of the expected shape; the output holds a `PluginError`.
pub const STATUS_BAD_INPUT: i32 = 3;

/// An output buffer allocated by the plugin and released through its `free`.
/// An empty output is `{ptr: null, len: 0}`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Buffer {
    pub const EMPTY: Buffer = Buffer {
        ptr: std::ptr::null_mut(),
        len: 0,
    };
}

/// `int32_t describe(recalld_buffer *out)`
pub type DescribeFn = extern "C" fn(out: *mut Buffer) -> i32;
/// `int32_t call(const uint8_t *in, size_t in_len, recalld_buffer *out)`
pub type CallFn = unsafe extern "C" fn(input: *const u8, input_len: usize, out: *mut Buffer) -> i32;
/// `void free(uint8_t *ptr, size_t len)`, for buffers this plugin returned.
pub type FreeFn = unsafe extern "C" fn(ptr: *mut u8, len: usize);
/// `const recalld_plugin_table *recalld_plugin_entry(void)`
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;

/// The frozen prefix of every table, in every ABI version. A host reads only
/// this before it has checked `magic`, `abi_major` and `size`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct TableHeader {
    pub magic: u64,
    pub abi_major: u32,
    pub abi_minor: u32,
    /// `sizeof` the whole table as the plugin was compiled.
    pub size: usize,
}

/// The function table, unchanged since version 1.0. New functions are only
/// ever appended.
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    pub header: TableHeader,
    /// Writes the JSON `Manifest`.
    pub describe: DescribeFn,
    /// `PrepareInput` JSON in, `HttpRequest` JSON out.
    pub prepare: CallFn,
    /// `InterpretInput` JSON in, `Outcome` JSON out.
    pub interpret: CallFn,
    /// `TokenInput` JSON in, `HttpRequest` JSON or `null` out.
    pub token_request: CallFn,
    /// `TokenParseInput` JSON in, `TokenReply` JSON out.
    pub token_parse: CallFn,
    /// Releases a buffer this plugin returned.
    pub free: FreeFn,
}

impl PluginTable {
    /// The header a table of this crate's version carries.
    pub const fn header() -> TableHeader {
        TableHeader {
            magic: ABI_MAGIC,
            abi_major: ABI_MAJOR,
            abi_minor: ABI_MINOR,
            size: std::mem::size_of::<PluginTable>(),
        }
    }
}
