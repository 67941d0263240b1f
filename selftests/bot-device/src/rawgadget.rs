//! The raw-gadget character device (`/dev/raw-gadget`, CONFIG_USB_RAW_GADGET):
//! ioctl numbers and argument layouts from `include/uapi/linux/usb/raw_gadget.h`
//! (Linux 7.3), and a thin safe wrapper around them.
//!
//! Every endpoint ioctl blocks until the host completes the transfer. The wait is
//! interruptible: a signal to the blocked thread makes raw-gadget dequeue the
//! request and the ioctl fail with `EINTR`, which is how the bulk thread abandons a
//! transfer when the host resets the device.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// `_IOC_WRITE`: user space passes data to the kernel.
const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel passes data to user space.
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)` as in `include/uapi/asm-generic/ioctl.h`.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | ((b'U' as u32) << 8) | nr
}

/// `UDC_NAME_LENGTH_MAX`.
pub const UDC_NAME_LENGTH_MAX: usize = 128;
/// `sizeof(struct usb_raw_init)`: two names and the speed byte.
const INIT_SIZE: usize = 2 * UDC_NAME_LENGTH_MAX + 1;
/// `sizeof(struct usb_raw_event)` without its flexible data.
const EVENT_SIZE: usize = 8;
/// `sizeof(struct usb_raw_ep_io)` without its flexible data.
const EP_IO_SIZE: usize = 8;
/// `sizeof(struct usb_endpoint_descriptor)`: packed, with the two audio bytes.
pub const ENDPOINT_DESC_SIZE: usize = 9;
/// `USB_RAW_EPS_NUM_MAX`.
pub const EPS_NUM_MAX: usize = 30;
/// `USB_RAW_EP_NAME_MAX`.
const EP_NAME_MAX: usize = 16;
/// `sizeof(struct usb_raw_ep_info)`: name, addr, caps bit field, limits.
const EP_INFO_SIZE: usize = EP_NAME_MAX + 4 + 4 + 8;
/// `USB_RAW_EP_ADDR_ANY`.
pub const EP_ADDR_ANY: u32 = 0xff;
/// `USB_RAW_IO_FLAGS_ZERO`: end the transfer with a zero-length packet when its
/// length is a multiple of the endpoint's maxpacket.
const IO_FLAGS_ZERO: u16 = 0x0001;

pub const USB_RAW_IOCTL_INIT: u32 = ioc(IOC_WRITE, 0, INIT_SIZE);
pub const USB_RAW_IOCTL_RUN: u32 = ioc(0, 1, 0);
pub const USB_RAW_IOCTL_EVENT_FETCH: u32 = ioc(IOC_READ, 2, EVENT_SIZE);
pub const USB_RAW_IOCTL_EP0_WRITE: u32 = ioc(IOC_WRITE, 3, EP_IO_SIZE);
pub const USB_RAW_IOCTL_EP0_READ: u32 = ioc(IOC_READ | IOC_WRITE, 4, EP_IO_SIZE);
pub const USB_RAW_IOCTL_EP_ENABLE: u32 = ioc(IOC_WRITE, 5, ENDPOINT_DESC_SIZE);
pub const USB_RAW_IOCTL_EP_DISABLE: u32 = ioc(IOC_WRITE, 6, 4);
pub const USB_RAW_IOCTL_EP_WRITE: u32 = ioc(IOC_WRITE, 7, EP_IO_SIZE);
pub const USB_RAW_IOCTL_EP_READ: u32 = ioc(IOC_READ | IOC_WRITE, 8, EP_IO_SIZE);
pub const USB_RAW_IOCTL_CONFIGURE: u32 = ioc(0, 9, 0);
pub const USB_RAW_IOCTL_VBUS_DRAW: u32 = ioc(IOC_WRITE, 10, 4);
pub const USB_RAW_IOCTL_EPS_INFO: u32 = ioc(IOC_READ, 11, EPS_NUM_MAX * EP_INFO_SIZE);
pub const USB_RAW_IOCTL_EP0_STALL: u32 = ioc(0, 12, 0);
pub const USB_RAW_IOCTL_EP_SET_HALT: u32 = ioc(IOC_WRITE, 13, 4);
/// Unused: disabling and re-enabling an endpoint clears its halt and also
/// drops data dummy_hcd still holds (see `gadget.rs`).
#[allow(dead_code)]
pub const USB_RAW_IOCTL_EP_CLEAR_HALT: u32 = ioc(IOC_WRITE, 14, 4);
pub const USB_RAW_IOCTL_EP_SET_WEDGE: u32 = ioc(IOC_WRITE, 15, 4);

/// `enum usb_device_speed`: USB_SPEED_HIGH.
pub const USB_SPEED_HIGH: u8 = 3;

/// `enum usb_raw_event_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Connect,
    Control,
    Suspend,
    Resume,
    Reset,
    Disconnect,
    Other(u32),
}

impl EventKind {
    fn from_raw(v: u32) -> EventKind {
        match v {
            1 => EventKind::Connect,
            2 => EventKind::Control,
            3 => EventKind::Suspend,
            4 => EventKind::Resume,
            5 => EventKind::Reset,
            6 => EventKind::Disconnect,
            v => EventKind::Other(v),
        }
    }
}

/// A fetched event; `data` holds the 8-byte `struct usb_ctrlrequest` of a
/// control event.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub data: Vec<u8>,
}

/// One entry of `USB_RAW_IOCTL_EPS_INFO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpInfo {
    pub name: String,
    /// Fixed endpoint number, or [`EP_ADDR_ANY`].
    pub addr: u32,
    pub bulk: bool,
    pub dir_in: bool,
    pub dir_out: bool,
    pub maxpacket_limit: u16,
}

impl EpInfo {
    /// Decodes one `struct usb_raw_ep_info` (little-endian x86 bit-field layout:
    /// type_control is bit 0, then iso, bulk, int, dir_in, dir_out).
    pub fn parse(raw: &[u8]) -> Option<EpInfo> {
        let raw = raw.get(..EP_INFO_SIZE)?;
        let name_end = raw[..EP_NAME_MAX]
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(EP_NAME_MAX);
        let word = |at: usize| u32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let caps = word(EP_NAME_MAX + 4);
        Some(EpInfo {
            name: String::from_utf8_lossy(&raw[..name_end]).into_owned(),
            addr: word(EP_NAME_MAX),
            bulk: caps & (1 << 2) != 0,
            dir_in: caps & (1 << 4) != 0,
            dir_out: caps & (1 << 5) != 0,
            maxpacket_limit: u16::from_ne_bytes([raw[EP_NAME_MAX + 8], raw[EP_NAME_MAX + 9]]),
        })
    }
}

/// An open raw-gadget instance. Ioctls may be issued from several threads at
/// once (raw-gadget serialises per endpoint itself).
pub struct RawGadget {
    file: File,
}

fn check(ret: libc::c_int) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// The `struct usb_raw_ep_io` header followed by `len` data bytes.
fn io_buffer(ep: u16, zero: bool, data: &[u8], len: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(EP_IO_SIZE + len);
    buf.extend_from_slice(&ep.to_ne_bytes());
    buf.extend_from_slice(&(if zero { IO_FLAGS_ZERO } else { 0 }).to_ne_bytes());
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(EP_IO_SIZE + len, 0);
    buf
}

impl RawGadget {
    pub fn open(path: &str) -> io::Result<RawGadget> {
        // raw-gadget refuses O_NONBLOCK; a plain read-write open is what it wants.
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(RawGadget { file })
    }

    fn ioctl_ptr(&self, request: u32, arg: *mut u8) -> io::Result<usize> {
        // SAFETY: `arg` points to a buffer at least as large as the argument
        // `request` is defined with (callers build it so), alive for the call.
        check(unsafe { libc::ioctl(self.file.as_raw_fd(), request as _, arg) })
    }

    fn ioctl_val(&self, request: u32, value: libc::c_ulong) -> io::Result<usize> {
        // SAFETY: these requests take a plain integer, no memory is passed.
        check(unsafe { libc::ioctl(self.file.as_raw_fd(), request as _, value) })
    }

    /// `USB_RAW_IOCTL_INIT`: bind to the UDC `driver`/`device` at `speed`.
    pub fn init(&self, driver: &str, device: &str, speed: u8) -> io::Result<()> {
        let mut arg = [0u8; INIT_SIZE];
        for (field, name) in [(0, driver), (UDC_NAME_LENGTH_MAX, device)] {
            let c = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            let bytes = c.as_bytes_with_nul();
            if bytes.len() > UDC_NAME_LENGTH_MAX {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            arg[field..field + bytes.len()].copy_from_slice(bytes);
        }
        arg[INIT_SIZE - 1] = speed;
        self.ioctl_ptr(USB_RAW_IOCTL_INIT, arg.as_mut_ptr())
            .map(drop)
    }

    /// `USB_RAW_IOCTL_RUN`: register the gadget driver; the device connects.
    pub fn run(&self) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_RUN, 0).map(drop)
    }

    /// `USB_RAW_IOCTL_EVENT_FETCH`: blocks until an event arrives.
    pub fn event_fetch(&self) -> io::Result<Event> {
        const DATA_MAX: usize = 256;
        let mut buf = vec![0u8; EVENT_SIZE + DATA_MAX];
        buf[4..8].copy_from_slice(&(DATA_MAX as u32).to_ne_bytes());
        self.ioctl_ptr(USB_RAW_IOCTL_EVENT_FETCH, buf.as_mut_ptr())?;
        let kind = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let len = u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        Ok(Event {
            kind: EventKind::from_raw(kind),
            data: buf[EVENT_SIZE..EVENT_SIZE + len.min(DATA_MAX)].to_vec(),
        })
    }

    /// `USB_RAW_IOCTL_EP0_WRITE`: the data stage of an IN control request.
    pub fn ep0_write(&self, data: &[u8], zero: bool) -> io::Result<usize> {
        let mut buf = io_buffer(0, zero, data, data.len());
        self.ioctl_ptr(USB_RAW_IOCTL_EP0_WRITE, buf.as_mut_ptr())
    }

    /// `USB_RAW_IOCTL_EP0_READ`: the data stage of an OUT control request, or
    /// with `len` 0 the status stage (the acknowledgement) of a request without
    /// data.
    pub fn ep0_read(&self, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = io_buffer(0, false, &[], len);
        let n = self.ioctl_ptr(USB_RAW_IOCTL_EP0_READ, buf.as_mut_ptr())?;
        Ok(buf[EP_IO_SIZE..EP_IO_SIZE + n.min(len)].to_vec())
    }

    /// `USB_RAW_IOCTL_EP0_STALL`: refuse the pending control request.
    pub fn ep0_stall(&self) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_EP0_STALL, 0).map(drop)
    }

    /// `USB_RAW_IOCTL_EP_ENABLE` with a 7-byte endpoint descriptor; returns the
    /// endpoint handle for the other endpoint ioctls.
    pub fn ep_enable(&self, desc: &[u8; 7]) -> io::Result<u16> {
        let mut arg = [0u8; ENDPOINT_DESC_SIZE];
        arg[..7].copy_from_slice(desc);
        self.ioctl_ptr(USB_RAW_IOCTL_EP_ENABLE, arg.as_mut_ptr())
            .map(|h| h as u16)
    }

    pub fn ep_disable(&self, handle: u16) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_EP_DISABLE, handle.into())
            .map(drop)
    }

    /// `USB_RAW_IOCTL_EP_WRITE`: blocks until the host has taken the data
    /// (dummy_hcd completes IN requests of at most 64 bytes at once, through its
    /// one-request FIFO, before the host reads them).
    pub fn ep_write(&self, handle: u16, data: &[u8], zero: bool) -> io::Result<usize> {
        let mut buf = io_buffer(handle, zero, data, data.len());
        self.ioctl_ptr(USB_RAW_IOCTL_EP_WRITE, buf.as_mut_ptr())
    }

    /// `USB_RAW_IOCTL_EP_READ`: blocks until the host has sent `len` bytes or
    /// ended its transfer with a short packet.
    pub fn ep_read(&self, handle: u16, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = io_buffer(handle, false, &[], len);
        let n = self.ioctl_ptr(USB_RAW_IOCTL_EP_READ, buf.as_mut_ptr())?;
        buf.truncate(EP_IO_SIZE + n.min(len));
        buf.drain(..EP_IO_SIZE);
        Ok(buf)
    }

    pub fn configure(&self) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_CONFIGURE, 0).map(drop)
    }

    /// `USB_RAW_IOCTL_VBUS_DRAW` in 2 mA units.
    pub fn vbus_draw(&self, units: u32) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_VBUS_DRAW, units.into())
            .map(drop)
    }

    pub fn eps_info(&self) -> io::Result<Vec<EpInfo>> {
        let mut buf = vec![0u8; EPS_NUM_MAX * EP_INFO_SIZE];
        let n = self.ioctl_ptr(USB_RAW_IOCTL_EPS_INFO, buf.as_mut_ptr())?;
        Ok(buf
            .chunks(EP_INFO_SIZE)
            .take(n.min(EPS_NUM_MAX))
            .filter_map(EpInfo::parse)
            .collect())
    }

    /// Fails with `EINVAL` while a transfer is queued on the endpoint, and with
    /// `EAGAIN` (dummy_hcd) while an IN endpoint still holds unread data.
    pub fn ep_set_halt(&self, handle: u16) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_EP_SET_HALT, handle.into())
            .map(drop)
    }

    /// Halts the endpoint so that the host's CLEAR_FEATURE(ENDPOINT_HALT) does
    /// not clear it (disabling the endpoint does).
    pub fn ep_set_wedge(&self, handle: u16) -> io::Result<()> {
        self.ioctl_val(USB_RAW_IOCTL_EP_SET_WEDGE, handle.into())
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by a C program built against the 7.3 uapi header
    /// (`printf("%#x", USB_RAW_IOCTL_...)` on x86_64).
    #[test]
    fn ioctl_numbers_match_the_header() {
        assert_eq!(USB_RAW_IOCTL_INIT, 0x4101_5500);
        assert_eq!(USB_RAW_IOCTL_RUN, 0x0000_5501);
        assert_eq!(USB_RAW_IOCTL_EVENT_FETCH, 0x8008_5502);
        assert_eq!(USB_RAW_IOCTL_EP0_WRITE, 0x4008_5503);
        assert_eq!(USB_RAW_IOCTL_EP0_READ, 0xc008_5504);
        assert_eq!(USB_RAW_IOCTL_EP_ENABLE, 0x4009_5505);
        assert_eq!(USB_RAW_IOCTL_EP_DISABLE, 0x4004_5506);
        assert_eq!(USB_RAW_IOCTL_EP_WRITE, 0x4008_5507);
        assert_eq!(USB_RAW_IOCTL_EP_READ, 0xc008_5508);
        assert_eq!(USB_RAW_IOCTL_CONFIGURE, 0x0000_5509);
        assert_eq!(USB_RAW_IOCTL_VBUS_DRAW, 0x4004_550a);
        assert_eq!(USB_RAW_IOCTL_EPS_INFO, 0x83c0_550b);
        assert_eq!(USB_RAW_IOCTL_EP0_STALL, 0x0000_550c);
        assert_eq!(USB_RAW_IOCTL_EP_SET_HALT, 0x4004_550d);
        assert_eq!(USB_RAW_IOCTL_EP_CLEAR_HALT, 0x4004_550e);
        assert_eq!(USB_RAW_IOCTL_EP_SET_WEDGE, 0x4004_550f);
    }

    #[test]
    fn struct_sizes_match_the_header() {
        // sizeof() of the C structs on x86_64.
        assert_eq!(INIT_SIZE, 257);
        assert_eq!(EP_INFO_SIZE, 32);
        assert_eq!(EPS_NUM_MAX * EP_INFO_SIZE, 960);
        assert_eq!(ENDPOINT_DESC_SIZE, 9);
    }

    #[test]
    fn ep_io_header_layout() {
        let b = io_buffer(3, true, &[0xaa, 0xbb], 2);
        assert_eq!(b, [3, 0, 1, 0, 2, 0, 0, 0, 0xaa, 0xbb]);
        let b = io_buffer(1, false, &[], 4);
        assert_eq!(b, [1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn parses_ep_info() {
        let mut raw = [0u8; EP_INFO_SIZE];
        raw[..10].copy_from_slice(b"ep1in-bulk");
        raw[16..20].copy_from_slice(&1u32.to_ne_bytes());
        // type_bulk | dir_in, as a C compiler lays out the bit field.
        raw[20..24].copy_from_slice(&0x14u32.to_ne_bytes());
        raw[24..26].copy_from_slice(&1024u16.to_ne_bytes());
        let info = EpInfo::parse(&raw).unwrap();
        assert_eq!(
            info,
            EpInfo {
                name: "ep1in-bulk".into(),
                addr: 1,
                bulk: true,
                dir_in: true,
                dir_out: false,
                maxpacket_limit: 1024,
            }
        );
    }
}
