"""The call protocol between the judge and the student's worker, over two byte streams (values: :mod:`.codec`).

Either end may call the other (callbacks nest): the judge calls the notebook's declared functions by name, the
worker calls back the callables the judge passed as arguments (each a :class:`Remote` on the other side). A call's
mutable arguments are synced in place when its reply comes (see :mod:`.codec`). The channel knows nothing of
processes or clocks: its owner supplies ``read(n)`` and ``write(data)`` (the judge's
:class:`~course_grading.isolation.sandbox.Worker` reads with the student's deadline and a size cap; the worker
blocks), and, on the judge's side, a ``meter`` that charges the time of each request to the student's budget.
"""

from __future__ import annotations

import struct

from .codec import MAX_MESSAGE, MAX_TEXT, Decoder, Encoder, WireError, update_in_place

_LEN = struct.Struct("<Q")


class Remote:
    """A callable living on the other side of ``channel`` (a name or a handle number there): calling it sends the
    arguments across and returns what comes back. The judge's proxies of the student's functions and the worker's
    stand-ins for the judge's callbacks are both this."""

    def __init__(self, channel: "Channel", target, name: str):
        self._channel, self._target = channel, target
        self.__name__ = self.__qualname__ = str(name)

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._target, args, kwargs)

    def __repr__(self):
        return f"<function {self.__name__} on the other side>"


class RemoteError(Exception):
    """An exception raised on the other side that is not a built-in exception type."""


def _builtin_exception(type_name: str, message: str) -> BaseException:
    """The exception to raise for one the other side sent; marked :func:`from_other_side` (its message was written
    by the other side's code: the judge must not show it where a student could use it to read a hidden test)."""
    import builtins

    err = None
    cls = getattr(builtins, type_name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls not in (StopIteration, StopAsyncIteration):
        try:
            err = cls(message) if message else cls()
        except Exception:  # noqa: BLE001 - an exception type with another signature
            err = None
    if err is None:
        err = RemoteError(f"{type_name}: {message}" if message else type_name)
    try:
        err._from_other_side = True
    except AttributeError:
        pass
    return err


def from_other_side(err: BaseException) -> bool:
    """Whether ``err`` was raised by the other side of a channel (its message is that side's text)."""
    return isinstance(err, RemoteError) or getattr(err, "_from_other_side", False) is True


class Channel:
    """One end of a call protocol over two byte streams; either end may call the other (callbacks nest).

    Messages are framed as (8-byte length, 1-byte kind, body): ``c`` a call ``(target, args, kwargs)``, ``r`` a
    return ``(updates, result)``, ``e`` an exception ``(type name, message)``. ``read(n)`` and ``write(data)`` are
    supplied by the owner (the judge reads with a deadline and a size cap; the worker blocks).
    """

    def __init__(self, read, write, owner: str, resolve=None):
        self._read, self._write = read, write
        self.owner = owner                  # "judge" or "worker": whose callables this end exports
        self.exported: list = []            # handle number -> callable of this end
        self._exported_ids: dict = {}
        self.resolve = resolve              # name -> callable of this end (the worker's notebook namespace)
        self.make_remote = None             # (number, name) -> a callable calling the other end
        self.max_message = MAX_MESSAGE      # the reader's cap on one message (the judge sets the output limit)
        self.on_broken = None               # called with the reason when the stream can no longer be trusted
        self.meter = None                   # begin() / check() / end(): the budget of the other end's replies
        self.seen_text = None               # a list: the strings and type names the other end sent (its words)

    # -- framing
    def send(self, kind: bytes, body: bytes) -> None:
        self._write(_LEN.pack(len(body) + 1) + kind + body)

    def receive(self) -> tuple[bytes, bytes]:
        n = _LEN.unpack(self._read(8))[0]
        if n < 1 or n > self.max_message:
            self._broken(f"output limit: a message of {n} bytes (at most {self.max_message})")
        data = self._read(n)
        return data[:1], data[1:]

    def _broken(self, reason: str):
        """The stream is out of step (a refused or malformed message): nothing more can be read from it."""
        if self.on_broken is not None:
            self.on_broken(reason)
        raise WireError(reason)

    # -- handles
    def export(self, fn) -> int:
        key = id(fn)
        if key not in self._exported_ids:
            self._exported_ids[key] = len(self.exported)
            self.exported.append(fn)
        return self._exported_ids[key]

    def _handle(self, number: int, name: str):
        if self.make_remote is None:
            raise WireError("unexpected callable")
        return self.make_remote(number, name)

    # -- calls
    def call(self, target, args: tuple = (), kwargs: dict | None = None):
        """Call ``target`` (a name or a handle number of the other end); serve its callbacks meanwhile."""
        enc = Encoder(export=self.export, track=True)
        body = enc.encode((target, tuple(args), dict(kwargs or {})))
        return self.request(b"c", body, enc.table)

    def request(self, kind: bytes, body: bytes, table: list = ()):
        """Send one message and wait for its reply, serving the other end's calls meanwhile. A reply to a call is
        ``(updates, result)``: the new contents of ``table`` (the caller's mutable arguments, synced in place), then
        the result; a reply to anything else is returned decoded. The ``meter`` (the judge's: the student's budget)
        runs from sending until the reply is decoded and synced, so the time the judge spends on the other end's
        replies and callbacks is charged to it, and is checked while it is spent."""
        meter = self.meter
        if meter is not None:
            meter.begin()
        try:
            self.send(kind, body)
            while True:
                got, reply = self.receive()
                if got == b"c":
                    self._serve_one(reply)
                elif got == b"r":
                    return self._finish(kind, reply, table)
                elif got == b"e":
                    info = self._decoder(reply).decode()
                    if not (isinstance(info, tuple) and len(info) == 2 and all(isinstance(x, str) for x in info)):
                        raise WireError("malformed exception")
                    raise _builtin_exception(info[0][:100], info[1][:2000])
                else:
                    self._broken(f"unknown message kind {got!r}")
        finally:
            if meter is not None:
                meter.end()

    def _decoder(self, body: bytes, **kw) -> "Decoder":
        check = self.meter.check if self.meter is not None else None
        return Decoder(body, check=check, text=self.seen_text, max_text=MAX_TEXT if self.owner == "judge" else None,
                       **kw)

    def _finish(self, kind: bytes, body: bytes, table: list):
        if kind != b"c":
            try:
                return self._decoder(body).decode()
            except (WireError, ValueError, TypeError) as err:
                self._broken(f"malformed reply ({err})")
        try:
            updates, result = self._decoder(body, refs=table, make_handle=self._handle).decode()
        except (WireError, ValueError, TypeError) as err:
            self._broken(f"malformed reply ({err})")
        if not isinstance(updates, list) or len(updates) != len(table):
            self._broken("malformed reply")
        for target_obj, new in zip(table, updates, strict=True):
            if self.meter is not None:
                self.meter.check()
            update_in_place(target_obj, new)
        return result

    def _serve_one(self, body: bytes) -> None:
        refs: list = []
        try:
            target, args, kwargs = self._decoder(body, refs=refs, make_handle=self._handle, track=True).decode()
            if isinstance(target, int):
                if not 0 <= target < len(self.exported):
                    raise LookupError("unknown callable")
                fn = self.exported[target]
            else:
                fn = self.resolve(target) if self.resolve else None
                if fn is None:
                    raise NameError(f"name {target!r} is not defined")
            result = fn(*args, **kwargs)
            enc = Encoder(export=self.export, refs={id(v): i for i, v in enumerate(refs)})
            updates = []
            for i, obj in enumerate(refs):
                del enc.refs[id(obj)]          # send the contents of each argument, not a reference to itself
                updates.append(obj)
                enc.encode_item_contents(obj)
                enc.refs[id(obj)] = i
            body = enc.finish(result, len(updates))
        except BaseException as err:   # everything the callee raises goes back to the caller
            if self.owner == "judge" and (isinstance(err, KeyboardInterrupt) or getattr(err, "stops_channel", False)):
                raise   # the student's budget is spent, or the stream is broken: nothing goes back
            self.send(b"e", Encoder().encode((type(err).__name__, _message(err))))
            return
        self.send(b"r", body)


def _message(err: BaseException) -> str:
    try:
        text = str(err)
    except Exception:  # noqa: BLE001
        text = ""
    return text[:2000]
