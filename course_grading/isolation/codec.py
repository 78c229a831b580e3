"""The plain-data encoding that crosses the boundary between the judge and the student's worker.

Only these values travel: ``None``, bools, ints, floats, complex numbers, strings, bytes, CPU tensors, torch dtypes,
``torch.Generator`` (as its state), and lists / tuples / dicts of them. A callable travels as a *handle* (a number
the other side calls back through the channel); an iterator or generator is consumed into a list (at most
``MAX_ITEMS`` items). Anything else arrives as an :class:`Unsupported` placeholder that names its type, so a test
that compares it fails with a readable message. Decoding builds only those types: nothing is unpickled, and a
malformed message raises :class:`WireError`.

Mutable arguments (dicts, lists, tensors, generators) are numbered as they are encoded (the *reference table*). After
a call the callee sends back their new contents and the caller updates its own objects in place, so a student's
function that fills a ``state`` dict or updates ``buf`` in place behaves as it would in the same process. A value
that *is* one of the arguments comes back as a reference to it (``param.sub_(...); return param`` returns the
caller's own tensor). The messages travel over :mod:`.channel`.
"""

from __future__ import annotations

import io
import struct

import torch

MAX_ITEMS = 100_000        # items taken from a returned iterator / generator
MAX_DEPTH = 64             # nesting of lists / dicts
MAX_VALUES = 100_000       # values decoded from one message (a tensor is one): a message of 64 MB of one-byte
                           # values would otherwise cost the judge ~80 s and ~0.5 GB to decode
MAX_REFS = 4_096           # references (``R``) in one message: each is an object the caller already holds, so a
                           # reply of 10**6 of them costs nothing to send and the judge much to inspect and print
MAX_TEXT = 100_000         # characters of text (strings, type names) in one message from the worker (the cells the
                           # judge sends, a student's long cell included, are not capped)
CHECK_EVERY = 2_048        # decoded values between two calls of the decoder's ``check`` (the budget's clock)
MAX_MESSAGE = 256 << 20    # bytes in one message (the output cap of the pipe)

_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16, torch.int8,
    torch.uint8, torch.bool, torch.complex64, torch.complex128)}


class WireError(ValueError):
    """A message that does not decode (malformed, too large, too deep)."""

    stops_channel = True


class Unsupported:
    """Stands for a value that cannot cross the boundary (a numpy array, an object of the student's class...)."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object, which the grader cannot receive>"

    def __eq__(self, other):
        return False

    __hash__ = object.__hash__



def _is_mutable(value) -> bool:
    return isinstance(value, (dict, list, torch.Tensor, torch.Generator))


class Encoder:
    """Encodes values; ``refs`` numbers the mutable values met (in order), ``export`` turns a callable into a number."""

    def __init__(self, export=None, refs: dict | None = None, track: bool = False):
        self.export = export
        self.refs = refs if refs is not None else {}   # id(obj) -> index (values already known to both sides)
        self.track = track                              # number new mutable values (arguments of a call)
        self.table: list = []                           # the values numbered by this encoder, in order
        self.buf = io.BytesIO()
        self._started = False

    def encode(self, value) -> bytes:
        self._put(value, 0)
        return self.buf.getvalue()

    # a reply is a tuple (updates, result); ``encode_item_contents`` writes the updates one by one first
    def encode_item_contents(self, obj) -> None:
        if not self._started:
            self._parts = io.BytesIO()
            self._started = True
        main, self.buf = self.buf, self._parts
        try:
            self._put(obj, 1)
        finally:
            self.buf = main

    def finish(self, result, count: int) -> bytes:
        self._w(b"U" + _U32.pack(2) + b"L" + _U32.pack(count))
        if count:
            self._w(self._parts.getvalue())
        self._put(result, 1)
        return self.buf.getvalue()

    def _w(self, data: bytes):
        self.buf.write(data)

    def _put(self, v, depth):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        w = self._w
        if _is_mutable(v) and id(v) in self.refs:
            w(b"R" + _U32.pack(self.refs[id(v)]))
            return
        if v is None:
            w(b"N")
        elif v is True:
            w(b"T")
        elif v is False:
            w(b"F")
        elif isinstance(v, int):
            v = int(v)
            if -(1 << 63) <= v < (1 << 63):
                w(b"I" + _I64.pack(v))
            else:
                self._str(b"J", str(v))
        elif isinstance(v, float):
            w(b"D" + _F64.pack(float(v)))
        elif isinstance(v, complex):
            w(b"C" + _F64.pack(v.real) + _F64.pack(v.imag))
        elif isinstance(v, str):
            self._str(b"S", v)
        elif isinstance(v, (bytes, bytearray)):
            w(b"B" + _U64.pack(len(v)) + bytes(v))
        elif isinstance(v, torch.dtype):
            self._str(b"d", str(v).removeprefix("torch."))
        elif isinstance(v, torch.Size):
            self._seq(b"U", list(v), depth)
        elif isinstance(v, torch.Tensor):
            self._track(v)
            self._tensor(v)
        elif isinstance(v, torch.Generator):
            self._track(v)
            w(b"G")
            self._tensor(v.get_state())
        elif isinstance(v, list):
            self._track(v)
            self._seq(b"L", v, depth)
        elif isinstance(v, tuple):
            self._seq(b"U", list(v), depth)
        elif isinstance(v, dict):
            self._track(v)
            w(b"M" + _U32.pack(len(v)))
            for key, item in v.items():
                self._put(key, depth + 1)
                self._put(item, depth + 1)
        elif _is_number(v):
            self._put(_as_number(v), depth)
        elif callable(v) and self.export is not None:
            number = self.export(v)
            self._str(b"H", f"{number}:{getattr(v, '__name__', type(v).__name__)}")
        elif hasattr(v, "__next__") and hasattr(v, "__iter__"):
            items = []
            for item in v:
                items.append(item)
                if len(items) > MAX_ITEMS:
                    raise WireError(f"an iterator yielded more than {MAX_ITEMS} items")
            self._seq(b"L", items, depth)
        else:
            self._str(b"O", type(v).__name__)

    def _track(self, v):
        if self.track:
            self.refs[id(v)] = len(self.table)
            self.table.append(v)

    def _str(self, tag: bytes, s: str):
        data = s.encode("utf-8", "surrogatepass")
        self._w(tag + _U64.pack(len(data)) + data)

    def _seq(self, tag: bytes, items, depth):
        self._w(tag + _U32.pack(len(items)))
        for item in items:
            self._put(item, depth + 1)

    def _tensor(self, t: torch.Tensor):
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.is_sparse or t.layout != torch.strided:
            t = t.to_dense()
        name = str(t.dtype).removeprefix("torch.")
        if name not in _DTYPES:
            raise WireError(f"tensors of dtype {t.dtype} cannot be sent")
        t = t.contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        self._str(b"X", name)
        self._w(_U32.pack(t.dim()) + b"".join(_I64.pack(n) for n in t.shape) + _U64.pack(len(raw)) + raw)


def _is_number(v) -> bool:
    import numbers

    return isinstance(v, numbers.Number)


def _as_number(v):
    import numbers

    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return complex(v)


class Decoder:
    """Decodes one message; ``refs`` is the list of values a reference ``R n`` points to."""

    def __init__(self, data: bytes, refs: list | None = None, make_handle=None, track: bool = False, check=None,
                 text: list | None = None, max_text: int | None = None):
        if len(data) > MAX_MESSAGE:
            raise WireError("message too large")
        self.data, self.pos = memoryview(data), 0
        self.refs = refs if refs is not None else []
        self.make_handle = make_handle
        self.track = track
        self.check = check          # called every CHECK_EVERY values (raises when the sender's budget is spent)
        self.text = text            # where the decoded strings and type names are recorded (the sender's words)
        self.max_text = max_text    # characters of text allowed in the message (the judge's cap on the worker's)
        self.count = 0
        self.ref_count = 0
        self.text_chars = 0

    def decode(self):
        value = self._get(0)
        if self.pos != len(self.data):
            raise WireError("trailing bytes in a message")
        return value

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise WireError("truncated message")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def _u32(self) -> int:
        return _U32.unpack(self._take(4))[0]

    def _str(self) -> str:
        n = _U64.unpack(self._take(8))[0]
        self.text_chars += n
        if self.max_text is not None and self.text_chars > self.max_text:
            raise WireError(f"more than {self.max_text} characters of text in one message")
        text = bytes(self._take(n)).decode("utf-8", "surrogatepass")
        if self.text is not None and len(text) >= 3:
            self.text.append(text)
        return text

    def _new(self, v):
        if self.track:
            self.refs.append(v)
        return v

    def _get(self, depth):
        if depth > MAX_DEPTH:
            raise WireError("value nested too deeply")
        self.count += 1
        if self.count > MAX_VALUES:
            raise WireError(f"more than {MAX_VALUES} values in one message")
        if self.check is not None and self.count % CHECK_EVERY == 0:
            self.check()
        tag = bytes(self._take(1))
        if tag == b"N":
            return None
        if tag == b"T":
            return True
        if tag == b"F":
            return False
        if tag == b"I":
            return _I64.unpack(self._take(8))[0]
        if tag == b"J":
            text = self._str()
            if len(text) > 5000:
                raise WireError("integer too long")
            return int(text)
        if tag == b"D":
            return _F64.unpack(self._take(8))[0]
        if tag == b"C":
            return complex(_F64.unpack(self._take(8))[0], _F64.unpack(self._take(8))[0])
        if tag == b"S":
            return self._str()
        if tag == b"B":
            return bytes(self._take(_U64.unpack(self._take(8))[0]))
        if tag == b"d":
            return _DTYPES[self._dtype_name()]
        if tag == b"X":
            return self._new(self._tensor())
        if tag == b"G":
            if bytes(self._take(1)) != b"X":
                raise WireError("malformed generator")
            gen = torch.Generator()
            self._new(gen)
            try:
                gen.set_state(self._tensor())
            except (RuntimeError, TypeError) as err:
                raise WireError(f"bad generator state: {err}") from None
            return gen
        if tag == b"L":
            out = self._new([])
            out.extend(self._get(depth + 1) for _ in range(self._u32()))
            return out
        if tag == b"U":
            return tuple(self._get(depth + 1) for _ in range(self._u32()))
        if tag == b"M":
            out = self._new({})
            for _ in range(self._u32()):
                key = self._get(depth + 1)
                try:
                    out[key] = self._get(depth + 1)
                except TypeError:
                    raise WireError("unhashable dict key") from None
            return out
        if tag == b"R":
            self.ref_count += 1
            if self.ref_count > MAX_REFS:
                raise WireError(f"more than {MAX_REFS} references to the arguments in one message")
            index = self._u32()
            if index >= len(self.refs):
                raise WireError("reference to an unknown value")
            return self.refs[index]
        if tag == b"H":
            number, _, name = self._str().partition(":")
            if self.make_handle is None or not number.isdigit():
                raise WireError("unexpected callable")
            return self.make_handle(int(number), name[:200])
        if tag == b"O":
            return Unsupported(self._str()[:200])
        raise WireError(f"unknown tag {tag!r}")

    def _dtype_name(self) -> str:
        n = _U64.unpack(self._take(8))[0]
        name = bytes(self._take(min(n, 32))).decode("utf-8", "replace")
        if n > 32 or name not in _DTYPES:
            raise WireError("unknown dtype")
        return name

    def _tensor(self) -> torch.Tensor:
        name = self._dtype_name()
        dtype = _DTYPES[name]
        ndim = self._u32()
        if ndim > 64:
            raise WireError("too many dimensions")
        shape = [_I64.unpack(self._take(8))[0] for _ in range(ndim)]
        if any(n < 0 for n in shape):
            raise WireError("negative size")
        raw = self._take(_U64.unpack(self._take(8))[0])
        numel = 1
        for n in shape:
            numel *= n
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(raw) != numel * itemsize:
            raise WireError("tensor data does not match its shape")
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)


def update_in_place(target, new) -> None:
    """Make the caller's mutable ``target`` hold ``new``'s contents (same type; decoded from the callee)."""
    if isinstance(target, torch.Tensor) and isinstance(new, torch.Tensor):
        with torch.no_grad():
            if target.shape == new.shape and target.dtype == new.dtype:
                if not torch.equal(target, new):
                    target.copy_(new)
            else:
                target.set_(new)
    elif isinstance(target, dict) and isinstance(new, dict):
        if target is not new:
            target.clear()
            target.update(new)
    elif isinstance(target, list) and isinstance(new, list):
        if target is not new:
            target[:] = new
    elif isinstance(target, torch.Generator) and isinstance(new, torch.Generator):
        target.set_state(new.get_state())
    else:
        raise WireError("an argument changed type during the call")
