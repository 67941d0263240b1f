// SPDX-License-Identifier: GPL-2.0

//! A fixed set of URBs that one handler completes ([`UrbSet`]), used one
//! session at a time ([`UrbSet::session`]): a caller fills URBs, submits the
//! first, and waits; the handler, in interrupt context, may submit the next
//! ones ([`Submitter`]) and wakes the caller. The set owns its URBs and their
//! coherent buffers; a session borrows what else they point at (a mapped
//! scatterlist) for no longer than it lasts.
//!
//! What makes it safe: a URB is in flight, and its handler runs, only during
//! the session that filled and submitted it. Every submission marks the URB in
//! flight before it is made; the trampoline clears the mark after the handler
//! returned. A session ends only with no URB in flight: it kills them (and,
//! should a handler have submitted one meanwhile, poisons them all) and waits
//! for handlers still returning. A handler can only submit URBs filled in the
//! current session. Coherent buffers are written and read only while no URB
//! is in flight, so never while the device or the CPU is at them.

use core::{
    cell::Cell,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};
use kernel::{bindings, ffi, prelude::*, time::msecs_to_jiffies, types::Opaque};

use super::{
    sg::UrbSg,
    urb::{Coherent, Urb},
    usb::{Pipe, TransferError, UsbDevice, UsbDeviceRef},
};

/// What a set's URBs complete into.
pub(crate) trait UrbHandler: Send + Sync + 'static {
    /// URB `index` completed with `status` (0 or a negative errno) after
    /// moving `actual` bytes. Runs in interrupt context: must not sleep.
    fn complete(&self, urbs: &Submitter<'_>, index: usize, status: i32, actual: usize);
}

/// URBs in a set: the stages of a Bulk-Only command.
pub(crate) const URBS: usize = 3;

/// [`URBS`] URBs, their coherent buffers, and the handler their completions go
/// to.
#[pin_data(PinnedDrop)]
pub(crate) struct UrbSet<T: UrbHandler> {
    // Dropped in this order: the URBs (killed) before the buffers they use.
    urbs: [Urb; URBS],
    bufs: [Option<Coherent>; URBS],
    udev: UsbDeviceRef,
    handler: T,
    /// Completed by a handler to wake the session's owner.
    #[pin]
    done: Opaque<bindings::completion>,
    /// URBs submitted and not yet through their handler (a bit each).
    in_flight: AtomicU32,
    /// URBs filled in the current session (a bit each): the only ones a
    /// handler may submit.
    filled: AtomicU32,
    /// URBs whose handler ran in the current session (a bit each).
    completed: AtomicU32,
    /// A session is running.
    in_session: AtomicBool,
}

// SAFETY: The URBs and buffers are the set's own; what threads share (the
// handler, the masks, the completion) is `Sync` or atomic, and the USB core
// serialises each URB's use.
unsafe impl<T: UrbHandler> Send for UrbSet<T> {}
// SAFETY: As above.
unsafe impl<T: UrbHandler> Sync for UrbSet<T> {}

/// How often [`Session::settle`] looks before it kills.
const SETTLE_SPINS: u32 = 10_000;

/// The bit of URB `index` in the masks.
const fn bit(index: usize) -> u32 {
    1 << index
}

impl<T: UrbHandler> UrbSet<T> {
    /// Allocates the URBs for `udev`, and for each a coherent buffer of
    /// `buf_lens[i]` bytes (none for 0), completing into `handler`.
    pub(crate) fn new(
        udev: &UsbDevice,
        buf_lens: [usize; URBS],
        handler: T,
    ) -> impl PinInit<Self, Error> + '_ {
        let buf = move |i: usize| -> Result<Option<Coherent>> {
            match buf_lens.get(i) {
                Some(&len) if len > 0 => Ok(Some(Coherent::new(udev, len)?)),
                _ => Ok(None),
            }
        };
        try_pin_init!(Self {
            urbs: [Urb::new()?, Urb::new()?, Urb::new()?],
            bufs: [buf(0)?, buf(1)?, buf(2)?],
            udev: udev.get_ref(),
            handler,
            done <- Opaque::ffi_init(|slot: *mut bindings::completion| {
                // SAFETY: `slot` is valid for writing a `struct completion`.
                unsafe { bindings::init_completion(slot) }
            }),
            in_flight: AtomicU32::new(0),
            filled: AtomicU32::new(0),
            completed: AtomicU32::new(0),
            in_session: AtomicBool::new(false),
        }? Error)
    }

    /// The handler.
    pub(crate) fn handler(&self) -> &T {
        &self.handler
    }

    /// Runs one session: `f` fills, submits and waits through the
    /// [`Session`]; when it returns, no URB of the set is in flight any more.
    /// `EBUSY` if another session is running.
    pub(crate) fn session<'env, R>(
        self: Pin<&'env Self>,
        f: impl FnOnce(&Session<'env, T>) -> R,
    ) -> Result<R> {
        let this = self.get_ref();
        if this.in_session.swap(true, Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: No URB is in flight (the last session ended with none), so no
        // handler runs or can run and nobody waits on `done`.
        unsafe { bindings::init_completion(this.done.get()) };
        this.completed.store(0, Ordering::Relaxed);
        let session = Session {
            set: this,
            env: core::marker::PhantomData,
        };
        let r = f(&session);
        session.quiesce();
        this.filled.store(0, Ordering::Relaxed);
        this.in_session.store(false, Ordering::Release);
        Ok(r)
    }

    /// Submits URB `index` (filled in this session); `atomic` from a handler.
    fn submit(&self, index: usize, atomic: bool) -> Result {
        let Some(urb) = self.urbs.get(index) else {
            return Err(EINVAL);
        };
        if self.filled.load(Ordering::Acquire) & bit(index) == 0 {
            return Err(EINVAL);
        }
        self.completed.fetch_and(!bit(index), Ordering::Relaxed);
        self.in_flight.fetch_or(bit(index), Ordering::AcqRel);
        // SAFETY: Filled in this session, over the set's own buffers or memory
        // the session borrows; the session does not end while it is in flight.
        let r = unsafe { urb.submit(atomic) };
        if r.is_err() {
            self.in_flight.fetch_and(!bit(index), Ordering::AcqRel);
        }
        r
    }

    /// The context a URB of this set carries.
    fn context(&self) -> *mut ffi::c_void {
        core::ptr::from_ref(self).cast_mut().cast()
    }

    /// The completion handler of every URB of the set.
    ///
    /// # Safety
    ///
    /// Called by the USB core for a URB that a session of this set filled.
    unsafe extern "C" fn trampoline(urb: *mut bindings::urb) {
        // SAFETY: The session set the context to the pinned set, which does not
        // move or drop while a URB of it is in flight (`PinnedDrop` kills them).
        let set = unsafe { &*Urb::context_of(urb).cast::<Self>() };
        // SAFETY: Called for this URB's completion (function contract).
        let (status, actual) = unsafe { Urb::completed(urb) };
        let Some(index) = set.urbs.iter().position(|u| u.as_raw() == urb) else {
            return;
        };
        set.completed.fetch_or(bit(index), Ordering::AcqRel);
        set.handler
            .complete(&Submitter { set }, index, status, actual);
        // The last touch of the set: the session may end once this is clear.
        set.in_flight.fetch_and(!bit(index), Ordering::AcqRel);
    }
}

#[pinned_drop]
impl<T: UrbHandler> PinnedDrop for UrbSet<T> {
    fn drop(self: Pin<&mut Self>) {
        // Sessions end with nothing in flight, and a session borrows the set:
        // nothing is in flight now. The URBs are killed again as they drop.
        for urb in self.urbs.iter() {
            urb.kill();
        }
    }
}

/// One session of a [`UrbSet`]: its URBs may point at memory borrowed for
/// `'env`, which outlives the session.
pub(crate) struct Session<'env, T: UrbHandler> {
    set: &'env UrbSet<T>,
    // Not `Sync`: one thread runs a session.
    env: core::marker::PhantomData<Cell<&'env ()>>,
}

impl<'env, T: UrbHandler> Session<'env, T> {
    /// Whether no URB is in flight.
    fn idle(&self) -> bool {
        self.set.in_flight.load(Ordering::Acquire) == 0
    }

    /// Copies `bytes` into URB `index`'s coherent buffer; `EBUSY` while any
    /// URB is in flight, `EINVAL` without a buffer or if it does not fit.
    pub(crate) fn write(&self, index: usize, bytes: &[u8]) -> Result {
        if !self.idle() {
            return Err(EBUSY);
        }
        let buf = self.buf(index)?;
        if bytes.len() > buf.as_slice().len() {
            return Err(EINVAL);
        }
        // SAFETY: No URB is in flight and none can be submitted but by this
        // thread, so neither the device nor a handler is at the buffer.
        unsafe { buf.write(bytes) };
        Ok(())
    }

    /// Copies URB `index`'s coherent buffer into `out`, as much as fits;
    /// the bytes copied. `EBUSY` while any URB is in flight.
    pub(crate) fn read(&self, index: usize, out: &mut [u8]) -> Result<usize> {
        if !self.idle() {
            return Err(EBUSY);
        }
        let src = self.buf(index)?.as_slice();
        let n = src.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn buf(&self, index: usize) -> Result<&Coherent> {
        self.set
            .bufs
            .get(index)
            .and_then(|b| b.as_ref())
            .ok_or(EINVAL)
    }

    /// Points URB `index` at `len` bytes of its own coherent buffer on `pipe`.
    pub(crate) fn fill_buf(&self, index: usize, pipe: Pipe, len: usize) -> Result {
        let set = self.set;
        let urb = set.urbs.get(index).ok_or(EINVAL)?;
        let buf = self.buf(index)?;
        if set.in_flight.load(Ordering::Acquire) & bit(index) != 0 {
            return Err(EBUSY);
        }
        // SAFETY: The URB is idle (checked); the buffer and the device are the
        // set's, which outlives every submission (sessions end with none in
        // flight); the trampoline is this set's handler, fit for interrupt
        // context.
        unsafe {
            urb.fill_buf(
                &set.udev,
                pipe,
                buf,
                len,
                Self::trampoline_fn(),
                set.context(),
            )
        };
        set.filled.fetch_or(bit(index), Ordering::Release);
        Ok(())
    }

    /// Points URB `index` at the mapped scatterlist of `mapping`, `len` bytes
    /// on `pipe`.
    pub(crate) fn fill_sg<M: UrbSg + ?Sized>(
        &self,
        index: usize,
        pipe: Pipe,
        mapping: &'env mut M,
        len: u32,
    ) -> Result {
        let set = self.set;
        let urb = set.urbs.get(index).ok_or(EINVAL)?;
        if set.in_flight.load(Ordering::Acquire) & bit(index) != 0 {
            return Err(EBUSY);
        }
        let (sg, nents, mapped) = mapping.raw();
        // SAFETY: The URB is idle (checked); the mapping is borrowed for
        // `'env`, longer than the session, which ends with no URB in flight.
        unsafe {
            urb.fill_sg(
                &set.udev,
                pipe,
                sg,
                nents,
                mapped,
                len,
                Self::trampoline_fn(),
                set.context(),
            )
        };
        set.filled.fetch_or(bit(index), Ordering::Release);
        Ok(())
    }

    fn trampoline_fn() -> super::urb::CompleteFn {
        UrbSet::<T>::trampoline
    }

    /// Submits URB `index`, filled in this session (process context).
    pub(crate) fn submit(&self, index: usize) -> Result {
        self.set.submit(index, false)
    }

    /// Waits up to `ms` for a handler to call [`Submitter::finish`]; whether
    /// one did.
    pub(crate) fn wait(&self, ms: u32) -> bool {
        // SAFETY: `done` is an initialised completion.
        let left = unsafe {
            bindings::wait_for_completion_timeout(self.set.done.get(), msecs_to_jiffies(ms))
        };
        left != 0
    }

    /// Kills the URBs in index order: a handler still running may submit a
    /// later one, which the next kill then cancels. May sleep.
    pub(crate) fn kill_all(&self) {
        for urb in self.set.urbs.iter() {
            urb.kill();
        }
    }

    /// How URB `index`'s last transfer in this session ended: bytes moved or
    /// the error; `Cancelled` if its handler has not run.
    pub(crate) fn result(&self, index: usize) -> core::result::Result<usize, TransferError> {
        match self.set.urbs.get(index) {
            Some(urb) if self.set.completed.load(Ordering::Acquire) & bit(index) != 0 => {
                urb.result()
            }
            _ => Err(TransferError::Cancelled),
        }
    }

    /// The bytes URB `index` moved in this session (0 if its handler has not
    /// run).
    pub(crate) fn actual(&self, index: usize) -> usize {
        match self.set.urbs.get(index) {
            Some(urb) if self.set.completed.load(Ordering::Acquire) & bit(index) != 0 => {
                urb.actual()
            }
            _ => 0,
        }
    }

    /// Waits until no URB is in flight: a handler that woke the caller may
    /// still be returning (a few instructions); what is still in flight after
    /// that is killed. May sleep.
    pub(crate) fn settle(&self) {
        for _ in 0..SETTLE_SPINS {
            if self.idle() {
                return;
            }
            core::hint::spin_loop();
        }
        self.kill_all();
    }

    /// Ends with no URB in flight: kills what is, poisons every URB should a
    /// handler submit meanwhile, and waits for handlers still returning.
    fn quiesce(&self) {
        if self.idle() {
            return;
        }
        self.kill_all();
        if self.idle() {
            return;
        }
        for urb in self.set.urbs.iter() {
            urb.poison();
        }
        // Each poison waited for its URB's handler; none can submit now.
        for urb in self.set.urbs.iter() {
            urb.unpoison();
        }
    }
}

/// What a handler may do with the set's URBs.
pub(crate) struct Submitter<'a> {
    set: &'a dyn SubmitTarget,
}

/// The part of a [`UrbSet`] a [`Submitter`] reaches.
trait SubmitTarget: Sync {
    fn submit_atomic(&self, index: usize) -> Result;
    fn finish(&self);
}

impl<T: UrbHandler> SubmitTarget for UrbSet<T> {
    fn submit_atomic(&self, index: usize) -> Result {
        self.submit(index, true)
    }

    fn finish(&self) {
        // SAFETY: `done` is an initialised completion.
        unsafe { bindings::complete(self.done.get()) };
    }
}

impl Submitter<'_> {
    /// Submits URB `index`, filled in this session, from the handler.
    pub(crate) fn submit(&self, index: usize) -> Result {
        self.set.submit_atomic(index)
    }

    /// Wakes the session's owner.
    pub(crate) fn finish(&self) {
        self.set.finish();
    }
}
