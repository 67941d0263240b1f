//! The runtime on raw-gadget: three threads around one [`RawGadget`].
//!
//! * ep0: fetches raw-gadget events, answers control requests, and handles the
//!   host's resets (Bulk-Only reset, port reset, disconnect, SET_CONFIGURATION).
//! * bulk: runs the BOT [`Engine`] on the bulk endpoints.
//! * control: reads the control FIFO and arms faults.
//!
//! Abandoning a transfer: whenever the host resets the device, ep0 bumps a
//! generation number and sends SIGUSR1 to the bulk thread (again every few
//! milliseconds, under the state lock) until the bulk thread acknowledges the new
//! generation. The signal makes a blocked endpoint ioctl fail with EINTR, after
//! raw-gadget dequeued its request; the bulk thread checks the generation before
//! every ioctl, so it never starts a transfer for a command the host gave up.
//! Once acknowledged, ep0 rearranges the endpoints while the bulk thread waits,
//! and the bulk thread then discards any SIGUSR1 still pending so that no stale
//! signal cuts a later transfer.

use crate::bot::{Abort, BulkIo, CbwWait, Engine, Ep};
use crate::fault::{parse_control, Control, FaultTable, Mode};
use crate::log::Logger;
use crate::rawgadget::{EpInfo, EventKind, RawGadget, EP_ADDR_ANY};
use crate::usb::{self, CtrlRequest, Descriptors, Ep0Action, Identity};
use std::io::{self, BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How often a reset re-sends SIGUSR1 until the bulk thread notices.
const KICK_INTERVAL: Duration = Duration::from_millis(5);

/// Enabled bulk endpoints: raw-gadget handles.
#[derive(Clone, Copy, Debug)]
struct Handles {
    bulk_in: u16,
    bulk_out: u16,
}

#[derive(Default)]
struct State {
    /// Bumped by every host reset; the bulk thread serves one generation.
    gen: u64,
    /// The last generation the bulk thread acknowledged.
    ack: u64,
    /// ep0 is rearranging the endpoints: the bulk thread must wait.
    kicking: bool,
    configured: bool,
    config_value: u8,
    handles: Option<Handles>,
    /// The bulk thread is (about to be) blocked waiting for a CBW.
    waiting_cbw: bool,
    /// A silent-cbw fault is being armed: do not queue a CBW read meanwhile.
    hold_cbw: bool,
    /// Endpoints the device halted since the last CBW (restored after the
    /// endpoint flush of a Bulk-Only reset).
    halted_in: bool,
    halted_out: bool,
    bulk_thread: Option<libc::pthread_t>,
    ready_logged: bool,
}

pub struct Shared {
    gadget: RawGadget,
    pub log: Arc<Logger>,
    pub faults: Arc<Mutex<FaultTable>>,
    identity: Identity,
    /// Stall the Bulk-Only Mass Storage Reset (`--no-bulk-reset`).
    no_bulk_reset: bool,
    /// `mute`: control requests go unanswered (the host's time out), so that
    /// neither a reset nor a re-enumeration brings the device back.
    mute: AtomicBool,
    /// `slow-control`: milliseconds each control request waits for its answer.
    control_delay_ms: AtomicU64,
    descs: OnceLock<Descriptors>,
    state: Mutex<State>,
    cond: Condvar,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

extern "C" fn on_sigusr1(_: libc::c_int) {}

/// Installs the (empty) SIGUSR1 handler without SA_RESTART, so that the signal
/// interrupts blocking ioctls.
pub fn install_kick_handler() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value to fill in; the handler is an
    // async-signal-safe empty function.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr1 as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = 0;
        if libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Discards a SIGUSR1 pending for the calling thread.
fn drain_kicks() {
    // SAFETY: plain signal-mask calls on valid, initialised sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGUSR1 {}
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
}

fn kick(st: &State) {
    if let Some(t) = st.bulk_thread {
        // SAFETY: `t` is the live bulk thread (it never exits).
        unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
    }
}

/// Picks the first bulk-in and bulk-out endpoints the UDC offers; returns their
/// addresses (with the direction bit on bulk-in).
pub fn choose_endpoints(eps: &[EpInfo]) -> Option<(u8, u8)> {
    let mut used: Vec<u32> = eps
        .iter()
        .map(|e| e.addr)
        .filter(|&a| a != EP_ADDR_ANY)
        .collect();
    let mut pick = |want_in: bool| {
        let e = eps.iter().find(|e| {
            e.bulk
                && if want_in { e.dir_in } else { e.dir_out }
                && e.maxpacket_limit >= usb::BULK_MAXPACKET_HS
        })?;
        let num = if e.addr == EP_ADDR_ANY {
            let n = (1..16).find(|n| !used.contains(n))?;
            used.push(n);
            n
        } else {
            e.addr
        };
        Some(num as u8 | if want_in { 0x80 } else { 0 })
    };
    let i = pick(true)?;
    let o = pick(false)?;
    Some((i, o))
}

impl Shared {
    pub fn new(
        gadget: RawGadget,
        log: Arc<Logger>,
        faults: Arc<Mutex<FaultTable>>,
        identity: Identity,
        no_bulk_reset: bool,
    ) -> Shared {
        Shared {
            gadget,
            log,
            faults,
            identity,
            no_bulk_reset,
            mute: AtomicBool::new(false),
            control_delay_ms: AtomicU64::new(0),
            descs: OnceLock::new(),
            state: Mutex::new(State::default()),
            cond: Condvar::new(),
        }
    }

    /// `USB_RAW_IOCTL_RUN`: the device connects.
    pub fn run(&self) -> io::Result<()> {
        self.gadget.run()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn error(&self, what: &str, e: &io::Error) {
        self.log.line(&format!("error {what}: {e}"));
    }

    /// Stops the bulk thread wherever it is, runs `f` while it waits, then lets
    /// it go on with a fresh BOT state.
    fn quiesce<F: FnOnce(&mut State)>(&self, f: F) {
        let mut st = self.lock();
        st.gen += 1;
        let target = st.gen;
        st.kicking = true;
        self.cond.notify_all();
        while st.ack < target {
            kick(&st);
            st = self
                .cond
                .wait_timeout(st, KICK_INTERVAL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        f(&mut st);
        st.kicking = false;
        self.cond.notify_all();
    }

    fn enable(&self, addr: u8) -> Option<u16> {
        match self
            .gadget
            .ep_enable(&usb::endpoint_descriptor(addr, usb::BULK_MAXPACKET_HS))
        {
            Ok(h) => Some(h),
            Err(e) => {
                self.error(&format!("enabling endpoint 0x{addr:02x}"), &e);
                None
            }
        }
    }

    fn disable(&self, h: Handles) {
        for handle in [h.bulk_in, h.bulk_out] {
            if let Err(e) = self.gadget.ep_disable(handle) {
                self.error("disabling an endpoint", &e);
            }
        }
    }

    fn enable_both(&self) -> Option<Handles> {
        let d = self.descs.get()?;
        Some(Handles {
            bulk_in: self.enable(d.ep_in)?,
            bulk_out: self.enable(d.ep_out)?,
        })
    }

    /// Disabling an endpoint is the only way to drop IN data dummy_hcd holds in
    /// its one-request FIFO (requests of at most 64 bytes complete at once, before
    /// the host reads them): a CSW the host never read must not answer the next
    /// command. It also clears halts and wedges.
    fn reenable(&self, st: &mut State) {
        if let Some(h) = st.handles.take() {
            self.disable(h);
        }
        st.handles = self.enable_both();
    }

    fn ack_ep0(&self, what: &str) {
        if let Err(e) = self.gadget.ep0_read(0) {
            self.ep0_error(what, &e);
        }
    }

    fn ep0_error(&self, what: &str, e: &io::Error) {
        // A host that resets or gives up in the middle of a control transfer
        // is not trouble of ours.
        if ![libc::ESHUTDOWN, libc::ECONNRESET, libc::EINTR, libc::EPROTO].contains(&errno(e)) {
            self.error(what, e);
        }
    }

    fn on_connect(&self) {
        self.log.line("event connect");
        if self.descs.get().is_some() {
            return;
        }
        match self.gadget.eps_info() {
            Ok(eps) => match choose_endpoints(&eps) {
                Some((ep_in, ep_out)) => {
                    let _ = self.descs.set(Descriptors {
                        identity: self.identity.clone(),
                        ep_in,
                        ep_out,
                    });
                    self.log
                        .line(&format!("endpoints in=0x{ep_in:02x} out=0x{ep_out:02x}"));
                }
                None => self
                    .log
                    .line("error the UDC has no high-speed bulk endpoint pair"),
            },
            Err(e) => self.error("EPS_INFO", &e),
        }
    }

    fn on_control(&self, raw: &[u8]) {
        let Some(req) = CtrlRequest::parse(raw) else {
            self.log.line("error short control event");
            return;
        };
        if self.mute.load(Ordering::Acquire) {
            self.log.line(&format!(
                "event control-ignored request={:#04x} (mute)",
                req.request
            ));
            return;
        }
        let delay = self.control_delay_ms.load(Ordering::Acquire);
        if delay > 0 {
            self.log.line(&format!(
                "event control-delayed request={:#04x} ms={delay}",
                req.request
            ));
            std::thread::sleep(Duration::from_millis(delay));
        }
        let action = self
            .descs
            .get()
            .map_or(Ep0Action::Stall, |d| d.handle(&req));
        let write = |data: &[u8]| {
            let zero = data.len() < usize::from(req.length);
            if let Err(e) = self.gadget.ep0_write(data, zero) {
                self.ep0_error("ep0 data stage", &e);
            }
        };
        match action {
            Ep0Action::Data(d) => write(&d),
            Ep0Action::Ack => self.ack_ep0("ep0 status stage"),
            Ep0Action::Stall => {
                if let Err(e) = self.gadget.ep0_stall() {
                    self.ep0_error("ep0 stall", &e);
                }
            }
            Ep0Action::GetConfiguration => {
                let v = self.lock().config_value;
                write(&[v]);
            }
            Ep0Action::GetMaxLun => {
                self.log.line("event get-max-lun");
                write(&[0]);
            }
            Ep0Action::SetConfiguration(v) => {
                self.log.line(&format!("event set-config {v}"));
                self.quiesce(|st| {
                    if v == 0 {
                        if let Some(h) = st.handles.take() {
                            self.disable(h);
                        }
                    } else {
                        self.reenable(st);
                    }
                    st.configured = v != 0 && st.handles.is_some();
                    st.config_value = v;
                    st.halted_in = false;
                    st.halted_out = false;
                });
                if v != 0 {
                    if let Err(e) = self.gadget.vbus_draw(usb::MAX_POWER.into()) {
                        self.error("VBUS_DRAW", &e);
                    }
                    if let Err(e) = self.gadget.configure() {
                        self.error("CONFIGURE", &e);
                    }
                }
                self.ack_ep0("SET_CONFIGURATION status stage");
                let mut st = self.lock();
                if st.configured && !st.ready_logged {
                    st.ready_logged = true;
                    self.log.line("ready");
                }
            }
            Ep0Action::BulkReset if self.no_bulk_reset => {
                // Like a device without the class request: the reset is refused
                // and changes nothing (a parked command stays parked).
                self.log.line("event bulk-reset refused");
                if let Err(e) = self.gadget.ep0_stall() {
                    self.ep0_error("ep0 stall", &e);
                }
            }
            Ep0Action::BulkReset => {
                self.log.line("event bulk-reset");
                self.quiesce(|st| {
                    if st.configured {
                        // BOT 3.1: the reset keeps halts; only the wedge of an
                        // invalid CBW goes, so that the host can clear them.
                        self.reenable(st);
                        st.configured = st.handles.is_some();
                        if let Some(h) = st.handles {
                            for (halted, handle) in
                                [(st.halted_in, h.bulk_in), (st.halted_out, h.bulk_out)]
                            {
                                if halted {
                                    if let Err(e) = self.gadget.ep_set_halt(handle) {
                                        self.error("restoring a halt", &e);
                                    }
                                }
                            }
                        }
                    }
                });
                self.ack_ep0("Bulk-Only reset status stage");
            }
        }
    }

    /// The ep0 thread.
    pub fn ep0_loop(&self) -> ! {
        loop {
            let ev = match self.gadget.event_fetch() {
                Ok(ev) => ev,
                Err(e) if errno(&e) == libc::EINTR => continue,
                Err(e) => {
                    self.error("fetching a raw-gadget event (giving up)", &e);
                    std::process::exit(1);
                }
            };
            match ev.kind {
                EventKind::Connect => self.on_connect(),
                EventKind::Control => self.on_control(&ev.data),
                EventKind::Reset | EventKind::Disconnect => {
                    self.log.line(if ev.kind == EventKind::Reset {
                        "event port-reset"
                    } else {
                        "event disconnect by=host"
                    });
                    self.quiesce(|st| {
                        st.configured = false;
                        st.config_value = 0;
                    });
                }
                EventKind::Suspend => {
                    self.log.line("event suspend");
                    crate::disk::POWER_LOST.store(true, std::sync::atomic::Ordering::Release);
                }
                EventKind::Resume => self.log.line("event resume"),
                EventKind::Other(n) => self.log.line(&format!("event unknown {n}")),
            }
        }
    }

    /// The bulk thread.
    pub fn bulk_loop(&self, mut engine: Engine) -> ! {
        // SAFETY: pthread_self has no preconditions.
        self.lock().bulk_thread = Some(unsafe { libc::pthread_self() });
        let mut gen = 0;
        loop {
            let mut st = self.lock();
            if st.gen != gen {
                st.ack = st.gen;
                self.cond.notify_all();
                while st.kicking {
                    st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                gen = st.gen;
                drop(st);
                drain_kicks();
                // Whatever early-answer sent ahead was for the old generation.
                engine.host_reset();
                continue;
            }
            let Some(handles) = st.handles.filter(|_| st.configured) else {
                drop(self.cond.wait(st).unwrap_or_else(|e| e.into_inner()));
                continue;
            };
            drop(st);
            let mut io = GadgetIo {
                sh: self,
                gen,
                handles,
            };
            match engine.serve(&mut io) {
                Ok(()) | Err(Abort::Reset) | Err(Abort::Disconnected) => {}
                Err(Abort::Error(e)) => {
                    self.log
                        .line(&format!("error bulk: {e} (waiting for a host reset)"));
                    drop(io.park());
                }
            }
        }
    }

    /// Arms a control line; returns after a silent-cbw fault can no longer miss
    /// the next CBW.
    pub fn control(&self, line: &str) {
        match parse_control(line) {
            Ok(Control::Fault(f)) => {
                // A silent-cbw must hit the first CBW the host sends after the
                // `fault armed` line, but the device normally has a read for it
                // queued already: withdraw that read (SIGUSR1) and hold the next
                // one back until the fault is in the table.
                let silent = f.mode == Mode::SilentCbw;
                if silent {
                    let mut st = self.lock();
                    st.hold_cbw = true;
                    while st.waiting_cbw {
                        kick(&st);
                        st = self
                            .cond
                            .wait_timeout(st, KICK_INTERVAL)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                }
                {
                    let mut t = self.faults.lock().unwrap_or_else(|e| e.into_inner());
                    t.arm(f.clone());
                    self.log.line(&format!("fault armed {f}"));
                }
                if silent {
                    self.lock().hold_cbw = false;
                    self.cond.notify_all();
                }
            }
            Ok(Control::Random(spec)) => {
                let mut t = self.faults.lock().unwrap_or_else(|e| e.into_inner());
                t.arm_random(spec);
                self.log.line(&format!("fault armed {spec}"));
            }
            Ok(Control::Clear) => {
                let mut t = self.faults.lock().unwrap_or_else(|e| e.into_inner());
                t.clear();
                self.mute.store(false, Ordering::Release);
                self.control_delay_ms.store(0, Ordering::Release);
                self.log.line("fault cleared");
            }
            Ok(Control::Mute) => {
                // Control requests first: a reset must find the device mute.
                self.mute.store(true, Ordering::Release);
                if let Ok(Control::Fault(f)) = parse_control("fault silent-data count=forever") {
                    self.faults.lock().unwrap_or_else(|e| e.into_inner()).arm(f);
                }
                self.log.line("fault armed mute");
            }
            Ok(Control::SlowControl(ms)) => {
                self.control_delay_ms.store(ms, Ordering::Release);
                self.log.line(&format!("fault armed slow-control ms={ms}"));
            }
            Ok(Control::List) => {
                let l = self
                    .faults
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .describe();
                if l.is_empty() {
                    self.log.line("fault list empty");
                }
                for f in l {
                    self.log.line(&format!("fault list {f}"));
                }
            }
            Ok(Control::Disconnect) => disconnect(&self.log, "command"),
            Ok(Control::Nothing) => {}
            Err(msg) => self
                .log
                .line(&format!("error control: {msg}: {}", line.trim())),
        }
    }

    /// The control thread: one command per line of the FIFO (opened read-write
    /// so that it never sees end-of-file when a writer closes it).
    pub fn control_loop(&self, fifo: std::fs::File) -> ! {
        let mut r = BufReader::new(fifo);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) => std::thread::sleep(Duration::from_millis(100)),
                Ok(_) => self.control(&line),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error("reading the control FIFO", &e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Disconnects from the bus by exiting: closing /dev/raw-gadget unregisters the
/// gadget and the UDC drops its pull-up.
pub fn disconnect(log: &Logger, reason: &str) -> ! {
    log.line(&format!("event disconnect by=device reason={reason}"));
    std::process::exit(0)
}

/// The bulk endpoints of one generation.
struct GadgetIo<'a> {
    sh: &'a Shared,
    gen: u64,
    handles: Handles,
}

impl GadgetIo<'_> {
    fn current(&self) -> Result<(), Abort> {
        if self.sh.lock().gen == self.gen {
            Ok(())
        } else {
            Err(Abort::Reset)
        }
    }

    /// Maps a failed endpoint ioctl to an abort.
    fn fail(&mut self, e: io::Error, what: &str) -> Abort {
        if self.current().is_err() {
            return Abort::Reset;
        }
        match errno(&e) {
            // The host reset or disconnected the port (dummy_hcd nuked the
            // request, or refuses new ones while the port is disabled): the
            // event reaches ep0 shortly.
            libc::ESHUTDOWN | libc::ECONNRESET | libc::ENODEV => self.park(),
            _ => Abort::Error(format!("{what}: {e}")),
        }
    }
}

impl BulkIo for GadgetIo<'_> {
    fn read_cbw(
        &mut self,
        silent: &mut dyn FnMut() -> Option<Vec<String>>,
    ) -> Result<CbwWait, Abort> {
        loop {
            {
                let mut st = self.sh.lock();
                while st.hold_cbw && st.gen == self.gen {
                    st = self.sh.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                }
                if st.gen != self.gen {
                    return Err(Abort::Reset);
                }
                if let Some(lines) = silent() {
                    return Ok(CbwWait::Silent(lines));
                }
                st.waiting_cbw = true;
            }
            let r = self
                .sh
                .gadget
                .ep_read(self.handles.bulk_out, usize::from(usb::BULK_MAXPACKET_HS));
            {
                let mut st = self.sh.lock();
                st.waiting_cbw = false;
                if r.is_ok() {
                    // The host sent a new CBW: it cleared whatever we halted.
                    st.halted_in = false;
                    st.halted_out = false;
                }
            }
            drain_kicks();
            match r {
                Ok(d) => return Ok(CbwWait::Packet(d)),
                Err(e) if errno(&e) == libc::EINTR => self.current()?,
                Err(e) => return Err(self.fail(e, "reading a CBW")),
            }
        }
    }

    fn read_out(&mut self, len: usize) -> Result<Vec<u8>, Abort> {
        self.current()?;
        self.sh
            .gadget
            .ep_read(self.handles.bulk_out, len)
            .map_err(|e| self.fail(e, "bulk-out"))
    }

    fn write_in(&mut self, data: &[u8], zero: bool) -> Result<(), Abort> {
        self.current()?;
        self.sh
            .gadget
            .ep_write(self.handles.bulk_in, data, zero)
            .map(drop)
            .map_err(|e| self.fail(e, "bulk-in"))
    }

    fn halt(&mut self, ep: Ep, wedge: bool) -> Result<(), Abort> {
        let handle = match ep {
            Ep::In => self.handles.bulk_in,
            Ep::Out => self.handles.bulk_out,
        };
        // raw-gadget logs every refused attempt: back off, the host usually reads
        // within a frame or two.
        let mut backoff = Duration::from_millis(2);
        loop {
            self.current()?;
            let g = &self.sh.gadget;
            let r = if wedge {
                g.ep_set_wedge(handle)
            } else {
                g.ep_set_halt(handle)
            };
            match r {
                Ok(()) => {
                    let mut st = self.sh.lock();
                    match ep {
                        Ep::In => st.halted_in = true,
                        Ep::Out => st.halted_out = true,
                    }
                    return Ok(());
                }
                // dummy_hcd: bulk-in still holds data the host has not read.
                Err(e) if errno(&e) == libc::EAGAIN => {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(self.fail(e, "halting an endpoint")),
            }
        }
    }

    fn park(&mut self) -> Abort {
        let mut st = self.sh.lock();
        while st.gen == self.gen {
            st = self.sh.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Abort::Reset
    }

    fn disconnect(&mut self, reason: &str) -> Abort {
        disconnect(&self.sh.log, reason)
    }

    fn address(&self, ep: Ep) -> u8 {
        let d = self.sh.descs.get();
        match ep {
            Ep::In => d.map_or(0x81, |d| d.ep_in),
            Ep::Out => d.map_or(0x02, |d| d.ep_out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(name: &str, addr: u32, bulk: bool, dir_in: bool, dir_out: bool) -> EpInfo {
        EpInfo {
            name: name.into(),
            addr,
            bulk,
            dir_in,
            dir_out,
            maxpacket_limit: 1024,
        }
    }

    #[test]
    fn chooses_dummy_udc_endpoints() {
        // dummy_hcd's list starts ep1in-bulk, ep2out-bulk, ep5in-int, ...
        let eps = [
            ep("ep1in-bulk", 1, true, true, false),
            ep("ep2out-bulk", 2, true, false, true),
            ep("ep5in-int", 5, false, true, false),
        ];
        assert_eq!(choose_endpoints(&eps), Some((0x81, 0x02)));
    }

    #[test]
    fn numbers_configurable_endpoints() {
        let eps = [
            ep("ep1out", 1, true, false, true),
            ep("ep-a", EP_ADDR_ANY, true, true, true),
        ];
        assert_eq!(choose_endpoints(&eps), Some((0x82, 0x01)));
        assert_eq!(choose_endpoints(&eps[..1]), None);
    }
}
