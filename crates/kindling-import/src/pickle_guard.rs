//! Refuses `torch.save` files whose pickles name anything but tensor-rebuild and storage types.
//!
//! burn-store interprets a pickle as data and never runs it, but it keeps unknown calls as
//! opaque values, so a file built to run `os.system` on `torch.load` would still load here.
//! A checkpoint that needs such a call is not a plain state dict, and loading it would hide what
//! it is: it is refused, naming the globals, as `torch.load(weights_only=True)` refuses it.
//! The scan walks opcodes only (no stack machine): every `GLOBAL`, `INST` and `STACK_GLOBAL`
//! is checked against the names `torch.save` writes for a state dict.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// What is wrong with a pickle stream, at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleScanError {
    /// The stream ended inside an opcode or before `STOP`.
    #[error("pickle ends early at byte {offset} (inside {opcode})")]
    Truncated {
        /// Offset of the opcode being read.
        offset: usize,
        /// Its name.
        opcode: &'static str,
    },
    /// A byte that is no pickle opcode (protocols 0 to 5).
    #[error("byte {offset} is 0x{byte:02x}, which is no pickle opcode")]
    UnknownOpcode {
        /// Offset of the byte.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// `STACK_GLOBAL` on operands that are not two literal strings: the global it builds cannot
    /// be known without running the pickle, so it is refused.
    #[error("STACK_GLOBAL at byte {offset} takes a module or name that is not a literal string")]
    ComputedGlobal {
        /// Offset of the opcode.
        offset: usize,
    },
    /// `EXT1`/`EXT2`/`EXT4` name a global through `copyreg`'s extension registry.
    #[error("byte {offset}: extension-registry opcode {opcode} names a global by number")]
    Extension {
        /// Offset of the opcode.
        offset: usize,
        /// Its name.
        opcode: &'static str,
    },
}

/// A global (`module.name`) that a pickle would import.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PickleGlobal {
    /// The module, e.g. `torch._utils`.
    pub module: String,
    /// The attribute, e.g. `_rebuild_tensor_v2`.
    pub name: String,
}

impl std::fmt::Display for PickleGlobal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

/// One pickle's globals, and the offset just past its `STOP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleScan {
    /// Every global the pickle names, in order of appearance (repeats kept).
    pub globals: Vec<PickleGlobal>,
    /// Bytes consumed, `STOP` included.
    pub end: usize,
}

/// PyTorch's dtype names, which `_rebuild_tensor_v3` and some metadata pickle as `torch.<dtype>`.
const TORCH_DTYPES: &[&str] = &[
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "uint8",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
];

/// Whether `torch.save` writes `module.name` for a (possibly nested) state dict of tensors.
///
/// The vocabulary is the tensor-rebuild functions, the storage and dtype types, `OrderedDict`,
/// the set constructors and `_codecs.encode` (how protocol 2 spells `bytes`): the part of
/// `torch.load(weights_only=True)`'s allowlist that a weight file uses. Each only builds data.
pub fn is_torch_save_global(module: &str, name: &str) -> bool {
    match module {
        "collections" => name == "OrderedDict",
        "torch._utils" => matches!(
            name,
            "_rebuild_tensor"
                | "_rebuild_tensor_v2"
                | "_rebuild_tensor_v3"
                | "_rebuild_parameter"
                | "_rebuild_parameter_with_state"
        ),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            (name.ends_with("Storage")
                && name.len() > "Storage".len()
                && name.chars().all(|c| c.is_ascii_alphanumeric()))
                || TORCH_DTYPES.contains(&name)
                || matches!(name, "Size" | "Tensor" | "device")
        }
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage"),
        "torch.nn.parameter" => name == "Parameter",
        "builtins" | "__builtin__" => matches!(name, "set" | "frozenset"),
        "_codecs" => name == "encode",
        _ => false,
    }
}

/// Pickle opcodes: how each one's argument is laid out in the stream.
#[derive(Clone, Copy)]
enum Arg {
    /// No argument bytes.
    None,
    /// A fixed number of bytes.
    Fixed(usize),
    /// A newline-terminated line.
    Line,
    /// Two newline-terminated lines (`GLOBAL`, `INST`).
    TwoLines,
    /// A little-endian length of this many bytes, then that many bytes.
    Counted(usize),
}

fn opcode(byte: u8) -> Option<(&'static str, Arg)> {
    use Arg::*;
    Some(match byte {
        b'(' => ("MARK", None),
        b'.' => ("STOP", None),
        b'0' => ("POP", None),
        b'1' => ("POP_MARK", None),
        b'2' => ("DUP", None),
        b'F' => ("FLOAT", Line),
        b'I' => ("INT", Line),
        b'J' => ("BININT", Fixed(4)),
        b'K' => ("BININT1", Fixed(1)),
        b'L' => ("LONG", Line),
        b'M' => ("BININT2", Fixed(2)),
        b'N' => ("NONE", None),
        b'P' => ("PERSID", Line),
        b'Q' => ("BINPERSID", None),
        b'R' => ("REDUCE", None),
        b'S' => ("STRING", Line),
        b'T' => ("BINSTRING", Counted(4)),
        b'U' => ("SHORT_BINSTRING", Counted(1)),
        b'V' => ("UNICODE", Line),
        b'X' => ("BINUNICODE", Counted(4)),
        b'a' => ("APPEND", None),
        b'b' => ("BUILD", None),
        b'c' => ("GLOBAL", TwoLines),
        b'd' => ("DICT", None),
        b'}' => ("EMPTY_DICT", None),
        b'e' => ("APPENDS", None),
        b'g' => ("GET", Line),
        b'h' => ("BINGET", Fixed(1)),
        b'i' => ("INST", TwoLines),
        b'j' => ("LONG_BINGET", Fixed(4)),
        b'l' => ("LIST", None),
        b']' => ("EMPTY_LIST", None),
        b'o' => ("OBJ", None),
        b'p' => ("PUT", Line),
        b'q' => ("BINPUT", Fixed(1)),
        b'r' => ("LONG_BINPUT", Fixed(4)),
        b's' => ("SETITEM", None),
        b't' => ("TUPLE", None),
        b')' => ("EMPTY_TUPLE", None),
        b'u' => ("SETITEMS", None),
        b'G' => ("BINFLOAT", Fixed(8)),
        0x80 => ("PROTO", Fixed(1)),
        0x81 => ("NEWOBJ", None),
        0x82 => ("EXT1", Fixed(1)),
        0x83 => ("EXT2", Fixed(2)),
        0x84 => ("EXT4", Fixed(4)),
        0x85 => ("TUPLE1", None),
        0x86 => ("TUPLE2", None),
        0x87 => ("TUPLE3", None),
        0x88 => ("NEWTRUE", None),
        0x89 => ("NEWFALSE", None),
        0x8a => ("LONG1", Counted(1)),
        0x8b => ("LONG4", Counted(4)),
        b'B' => ("BINBYTES", Counted(4)),
        b'C' => ("SHORT_BINBYTES", Counted(1)),
        0x8c => ("SHORT_BINUNICODE", Counted(1)),
        0x8d => ("BINUNICODE8", Counted(8)),
        0x8e => ("BINBYTES8", Counted(8)),
        0x8f => ("EMPTY_SET", None),
        0x90 => ("ADDITEMS", None),
        0x91 => ("FROZENSET", None),
        0x92 => ("NEWOBJ_EX", None),
        0x93 => ("STACK_GLOBAL", None),
        0x94 => ("MEMOIZE", None),
        0x95 => ("FRAME", Fixed(8)),
        0x96 => ("BYTEARRAY8", Counted(8)),
        0x97 => ("NEXT_BUFFER", None),
        0x98 => ("READONLY_BUFFER", None),
        _ => return Option::None,
    })
}

/// A cursor over the stream that reports truncation with the opcode being read.
struct Stream<'a> {
    bytes: &'a [u8],
    pos: usize,
    op_offset: usize,
    op_name: &'static str,
}

impl<'a> Stream<'a> {
    fn truncated(&self) -> PickleScanError {
        PickleScanError::Truncated {
            offset: self.op_offset,
            opcode: self.op_name,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleScanError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.truncated())?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn line(&mut self) -> Result<&'a [u8], PickleScanError> {
        let rest = &self.bytes[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.truncated())?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }

    fn le_uint(&mut self, width: usize) -> Result<u64, PickleScanError> {
        self.take(width).map(little_endian)
    }
}

/// An unsigned little-endian integer of up to 8 bytes.
fn little_endian(raw: &[u8]) -> u64 {
    raw.iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// The memo index of a `PUT`/`GET` (a decimal line) or of their binary forms (little-endian);
/// an unreadable decimal index names no slot a string can be in.
fn memo_key(opcode: &str, arg: &[u8]) -> u64 {
    if matches!(opcode, "PUT" | "GET") {
        text(arg).trim().parse().unwrap_or(u64::MAX)
    } else {
        little_endian(arg)
    }
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// The value a protocol 0 `STRING` line quotes (`'abc'` or `"abc"`), escapes left as they are.
fn unquote(raw: &[u8]) -> String {
    let inner = match raw {
        [q, inner @ .., last] if (*q == b'\'' || *q == b'"') && last == q => inner,
        _ => raw,
    };
    text(inner)
}

/// Lists the globals of the pickle at the start of `bytes`, up to and including its `STOP`.
///
/// `STACK_GLOBAL`'s operands are followed through pushes of literal strings and the memo; any
/// other producer of them is refused as [`PickleScanError::ComputedGlobal`], since only running
/// the pickle would tell what it imports.
pub fn scan_pickle(bytes: &[u8]) -> Result<PickleScan, PickleScanError> {
    let mut stream = Stream {
        bytes,
        pos: 0,
        op_offset: 0,
        op_name: "the first opcode",
    };
    let mut globals = Vec::new();
    // The last two values pushed, when they were literal strings (all `STACK_GLOBAL` needs).
    let mut recent: [Option<String>; 2] = [None, None];
    let mut memo: HashMap<u64, String> = HashMap::new();
    let mut memo_len: u64 = 0;
    let push = |recent: &mut [Option<String>; 2], value: Option<String>| {
        recent[0] = recent[1].take();
        recent[1] = value;
    };
    loop {
        stream.op_offset = stream.pos;
        let byte = *stream
            .bytes
            .get(stream.pos)
            .ok_or_else(|| stream.truncated())?;
        let (name, arg) = opcode(byte).ok_or(PickleScanError::UnknownOpcode {
            offset: stream.pos,
            byte,
        })?;
        stream.op_name = name;
        stream.pos += 1;
        let (first, second): (&[u8], &[u8]) = match arg {
            Arg::None => (&[], &[]),
            Arg::Fixed(n) => (stream.take(n)?, &[]),
            Arg::Line => (stream.line()?, &[]),
            Arg::TwoLines => (stream.line()?, stream.line()?),
            Arg::Counted(width) => {
                let len = stream.le_uint(width)?;
                let len = usize::try_from(len).map_err(|_| stream.truncated())?;
                (stream.take(len)?, &[])
            }
        };
        match name {
            "STOP" => {
                return Ok(PickleScan {
                    globals,
                    end: stream.pos,
                });
            }
            "GLOBAL" | "INST" => {
                globals.push(PickleGlobal {
                    module: text(first),
                    name: text(second),
                });
                push(&mut recent, None);
            }
            "STACK_GLOBAL" => {
                let (Some(module), Some(attr)) = (recent[0].take(), recent[1].take()) else {
                    return Err(PickleScanError::ComputedGlobal {
                        offset: stream.op_offset,
                    });
                };
                globals.push(PickleGlobal { module, name: attr });
                push(&mut recent, None);
            }
            "EXT1" | "EXT2" | "EXT4" => {
                return Err(PickleScanError::Extension {
                    offset: stream.op_offset,
                    opcode: name,
                });
            }
            "SHORT_BINUNICODE" | "BINUNICODE" | "BINUNICODE8" | "SHORT_BINSTRING" | "BINSTRING"
            | "UNICODE" => push(&mut recent, Some(text(first))),
            "STRING" => push(&mut recent, Some(unquote(first))),
            "MEMOIZE" => {
                if let Some(value) = recent[1].clone() {
                    memo.insert(memo_len, value);
                } else {
                    memo.remove(&memo_len);
                }
                memo_len += 1;
            }
            "PUT" | "BINPUT" | "LONG_BINPUT" => {
                let key = memo_key(name, first);
                match recent[1].clone() {
                    Some(value) => memo.insert(key, value),
                    None => memo.remove(&key),
                };
            }
            "GET" | "BINGET" | "LONG_BINGET" => {
                let key = memo_key(name, first);
                push(&mut recent, memo.get(&key).cloned());
            }
            // Framing and the protocol marker wrap the stream without touching the stack.
            "FRAME" | "PROTO" => {}
            _ => push(&mut recent, None),
        }
    }
}

/// The globals of every pickle in a `torch.save` file that are not in its state-dict
/// vocabulary ([`is_torch_save_global`]), sorted and without repeats.
///
/// Reads the zip format (`*/data.pkl` and any other `.pkl` entry) and the legacy format (up to
/// five leading pickles: magic, protocol, system info, the object, the storage keys; a bare
/// pickle is one). Errors are messages for [`crate::ImportError::Weights`].
pub fn foreign_pickle_globals(path: &Path) -> Result<BTreeSet<PickleGlobal>, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut magic = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut magic)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .map_err(|e| e.to_string())?;
    let mut foreign = BTreeSet::new();
    let mut note = |globals: Vec<PickleGlobal>| {
        foreign.extend(
            globals
                .into_iter()
                .filter(|g| !is_torch_save_global(&g.module, &g.name)),
        )
    };
    if magic == b"PK\x03\x04" {
        let mut archive = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|e| format!("not a readable zip archive: {e}"))?;
        let names: Vec<String> = archive
            .file_names()
            .map(|name| name.map(|n| n.into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("zip entry names: {e}"))?
            .into_iter()
            .filter(|n| n.ends_with(".pkl"))
            .collect();
        if !names.iter().any(|n| n.ends_with("data.pkl")) {
            return Err("zip archive without a data.pkl: not a torch.save file".into());
        }
        for name in names {
            let entry = archive
                .by_name(&name)
                .map_err(|e| format!("zip entry `{name}`: {e}"))?;
            let mut bytes = Vec::new();
            entry
                .take(MAX_PICKLE_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("zip entry `{name}`: {e}"))?;
            let scan = scan_pickle(&bytes).map_err(|e| format!("zip entry `{name}`: {e}"))?;
            note(scan.globals);
        }
    } else {
        let mut bytes = Vec::new();
        file.take(MAX_PICKLE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        let mut offset = 0;
        for index in 1..=5 {
            if offset >= bytes.len() {
                break;
            }
            let scan = scan_pickle(&bytes[offset..]).map_err(|e| {
                format!("pickle {index} (from byte {offset}) of the legacy format: {e}")
            })?;
            offset += scan.end;
            note(scan.globals);
        }
    }
    Ok(foreign)
}

/// The most pickle bytes read, as burn-store's reader caps them: a deflated entry can claim
/// any size.
const MAX_PICKLE_BYTES: u64 = 100 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bytes: &[u8]) -> Vec<String> {
        scan_pickle(bytes)
            .expect("scan")
            .globals
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    // The three byte strings are `pickle.dumps(obj)` of an object whose `__reduce__` returns
    // `(os.system, ("ls",))`, at protocols 2, 4 and 0 (CPython 3.11).
    #[test]
    fn finds_os_system_at_every_protocol() {
        let p2 = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        let p4 = b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02ls\x94\x85\x94R\x94.";
        let p0 = b"cposix\nsystem\np0\n(Vls\np1\ntp2\nRp3\n.";
        for bytes in [&p2[..], &p4[..], &p0[..]] {
            assert_eq!(names(bytes), ["posix.system"]);
            assert_eq!(scan_pickle(bytes).unwrap().end, bytes.len());
        }
        assert!(!is_torch_save_global("posix", "system"));
    }

    #[test]
    fn follows_stack_global_operands_through_the_memo() {
        // "posix" and "system" memoized, fetched back with BINGET, then STACK_GLOBAL.
        let bytes = b"\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93.";
        assert_eq!(names(bytes), ["posix.system"]);
        // The same through BINPUT/LONG_BINGET.
        let bytes =
            b"\x80\x04\x8c\x05posixq\x07\x8c\x06systemq\x08j\x07\x00\x00\x00j\x08\x00\x00\x00\x93.";
        assert_eq!(names(bytes), ["posix.system"]);
    }

    #[test]
    fn refuses_a_stack_global_it_cannot_read() {
        // The module name comes out of a REDUCE: only running the pickle would tell.
        let bytes = b"\x80\x04\x8c\x01a\x8c\x01b\x86R\x8c\x06system\x93.";
        assert_eq!(
            scan_pickle(bytes),
            Err(PickleScanError::ComputedGlobal { offset: 18 })
        );
    }

    #[test]
    fn malformed_streams_are_errors_not_panics() {
        assert!(matches!(
            scan_pickle(b"\x80\x02cposix\nsys"),
            Err(PickleScanError::Truncated {
                opcode: "GLOBAL",
                ..
            })
        ));
        // BINUNICODE8 claiming 2^64 - 1 bytes.
        assert!(matches!(
            scan_pickle(b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xffabc."),
            Err(PickleScanError::Truncated { .. })
        ));
        assert_eq!(
            scan_pickle(b"\x80\x02\xff."),
            Err(PickleScanError::UnknownOpcode {
                offset: 2,
                byte: 0xff
            })
        );
        assert!(matches!(
            scan_pickle(b""),
            Err(PickleScanError::Truncated { .. })
        ));
        assert!(matches!(
            scan_pickle(b"\x80\x02\x82\x01."),
            Err(PickleScanError::Extension { .. })
        ));
    }

    #[test]
    fn the_vocabulary_is_what_torch_save_writes() {
        for (module, name) in [
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch", "FloatStorage"),
            ("torch", "BFloat16Storage"),
            ("torch", "bfloat16"),
            ("collections", "OrderedDict"),
            ("_codecs", "encode"),
        ] {
            assert!(is_torch_save_global(module, name), "{module}.{name}");
        }
        for (module, name) in [
            ("builtins", "eval"),
            ("builtins", "exec"),
            ("os", "system"),
            ("subprocess", "Popen"),
            ("torch", "load"),
            ("torch", "Storage"),
            ("torch", "os.Storage"),
            ("torch.serialization", "load"),
            ("__main__", "Model"),
        ] {
            assert!(!is_torch_save_global(module, name), "{module}.{name}");
        }
    }
}
