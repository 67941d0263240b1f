//! USB descriptors of the emulated disk and the answers to control requests on
//! endpoint 0, as pure functions of the request (the runtime in `gadget.rs`
//! carries them out).
//!
//! dummy_hcd answers SET_ADDRESS, GET_STATUS and SET/CLEAR_FEATURE (including
//! ENDPOINT_HALT) itself: those never reach the gadget.

/// High-speed bulk maxpacket.
pub const BULK_MAXPACKET_HS: u16 = 512;
/// Full-speed bulk maxpacket (for the other-speed configuration).
pub const BULK_MAXPACKET_FS: u16 = 64;
/// Endpoint 0 maxpacket.
pub const EP0_MAXPACKET: u8 = 64;
/// The one configuration's bConfigurationValue.
pub const CONFIG_VALUE: u8 = 1;
/// bMaxPower in 2 mA units.
pub const MAX_POWER: u8 = 50;
/// Interface number of the mass-storage interface.
pub const INTERFACE: u16 = 0;

const USB_DT_DEVICE: u8 = 1;
const USB_DT_CONFIG: u8 = 2;
const USB_DT_STRING: u8 = 3;
const USB_DT_INTERFACE: u8 = 4;
const USB_DT_ENDPOINT: u8 = 5;
const USB_DT_DEVICE_QUALIFIER: u8 = 6;
const USB_DT_OTHER_SPEED_CONFIG: u8 = 7;

const USB_REQ_GET_DESCRIPTOR: u8 = 6;
const USB_REQ_GET_CONFIGURATION: u8 = 8;
const USB_REQ_SET_CONFIGURATION: u8 = 9;
const USB_REQ_GET_INTERFACE: u8 = 10;
const USB_REQ_SET_INTERFACE: u8 = 11;

/// Get Max LUN (BOT 3.2).
pub const GET_MAX_LUN: u8 = 0xfe;
/// Bulk-Only Mass Storage Reset (BOT 3.1).
pub const BULK_ONLY_RESET: u8 = 0xff;

/// `struct usb_ctrlrequest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtrlRequest {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl CtrlRequest {
    pub fn parse(raw: &[u8]) -> Option<CtrlRequest> {
        let r: &[u8; 8] = raw.get(..8)?.try_into().ok()?;
        Some(CtrlRequest {
            request_type: r[0],
            request: r[1],
            value: u16::from_le_bytes([r[2], r[3]]),
            index: u16::from_le_bytes([r[4], r[5]]),
            length: u16::from_le_bytes([r[6], r[7]]),
        })
    }
}

/// Identity of the emulated device.
#[derive(Clone, Debug)]
pub struct Identity {
    pub vid: u16,
    pub pid: u16,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
}

/// The descriptors, built once the bulk endpoint addresses are known.
#[derive(Clone, Debug)]
pub struct Descriptors {
    pub identity: Identity,
    /// bEndpointAddress of bulk-in (with the 0x80 bit) and bulk-out.
    pub ep_in: u8,
    pub ep_out: u8,
}

/// What to do with a control request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ep0Action {
    /// Send this data stage (already cut to wLength).
    Data(Vec<u8>),
    /// Acknowledge a request without data stage.
    Ack,
    /// Refuse the request.
    Stall,
    /// SET_CONFIGURATION with this value (0 or [`CONFIG_VALUE`]).
    SetConfiguration(u8),
    /// GET_CONFIGURATION: the runtime answers with its current value.
    GetConfiguration,
    /// Bulk-Only Mass Storage Reset.
    BulkReset,
    /// Get Max LUN: the data stage is the single byte 0.
    GetMaxLun,
}

pub fn endpoint_descriptor(addr: u8, maxpacket: u16) -> [u8; 7] {
    let mp = maxpacket.to_le_bytes();
    [7, USB_DT_ENDPOINT, addr, 0x02, mp[0], mp[1], 0]
}

fn utf16_descriptor(s: &str) -> Vec<u8> {
    let mut d = vec![0, USB_DT_STRING];
    for u in s.encode_utf16().take(126) {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d[0] = d.len() as u8;
    d
}

impl Descriptors {
    pub fn device(&self) -> Vec<u8> {
        let id = &self.identity;
        let mut d = vec![18, USB_DT_DEVICE, 0x00, 0x02, 0, 0, 0, EP0_MAXPACKET];
        d.extend_from_slice(&id.vid.to_le_bytes());
        d.extend_from_slice(&id.pid.to_le_bytes());
        d.extend_from_slice(&0x0100u16.to_le_bytes()); // bcdDevice
        d.extend_from_slice(&[1, 2, 3, 1]); // iManufacturer, iProduct, iSerial, configs
        d
    }

    pub fn qualifier(&self) -> Vec<u8> {
        vec![
            10,
            USB_DT_DEVICE_QUALIFIER,
            0x00,
            0x02,
            0,
            0,
            0,
            EP0_MAXPACKET,
            1,
            0,
        ]
    }

    /// The configuration: one interface, class 08 (mass storage), subclass 06
    /// (SCSI transparent), protocol 0x50 (Bulk-Only), bulk-in and bulk-out.
    pub fn config(&self, kind: u8, maxpacket: u16) -> Vec<u8> {
        let mut d = vec![9, kind, 32, 0, 1, CONFIG_VALUE, 0, 0x80, MAX_POWER];
        d.extend_from_slice(&[
            9,
            USB_DT_INTERFACE,
            INTERFACE as u8,
            0,
            2,
            0x08,
            0x06,
            0x50,
            0,
        ]);
        d.extend_from_slice(&endpoint_descriptor(self.ep_in, maxpacket));
        d.extend_from_slice(&endpoint_descriptor(self.ep_out, maxpacket));
        d
    }

    pub fn string(&self, index: u8) -> Option<Vec<u8>> {
        let id = &self.identity;
        Some(match index {
            0 => vec![4, USB_DT_STRING, 0x09, 0x04],
            1 => utf16_descriptor(&id.manufacturer),
            2 => utf16_descriptor(&id.product),
            3 => utf16_descriptor(&id.serial),
            _ => return None,
        })
    }

    fn descriptor(&self, value: u16) -> Option<Vec<u8>> {
        let [index, kind] = value.to_le_bytes();
        match kind {
            USB_DT_DEVICE => Some(self.device()),
            USB_DT_CONFIG => Some(self.config(USB_DT_CONFIG, BULK_MAXPACKET_HS)),
            USB_DT_OTHER_SPEED_CONFIG => {
                Some(self.config(USB_DT_OTHER_SPEED_CONFIG, BULK_MAXPACKET_FS))
            }
            USB_DT_DEVICE_QUALIFIER => Some(self.qualifier()),
            USB_DT_STRING => self.string(index),
            _ => None,
        }
    }

    /// Decides how to answer a control request.
    pub fn handle(&self, req: &CtrlRequest) -> Ep0Action {
        let cut = |mut d: Vec<u8>| {
            d.truncate(req.length.into());
            Ep0Action::Data(d)
        };
        match (req.request_type, req.request) {
            (0x80, USB_REQ_GET_DESCRIPTOR) if req.length > 0 => {
                self.descriptor(req.value).map_or(Ep0Action::Stall, cut)
            }
            (0x80, USB_REQ_GET_CONFIGURATION) if req.length > 0 => Ep0Action::GetConfiguration,
            (0x00, USB_REQ_SET_CONFIGURATION) if req.length == 0 => match req.value {
                0 => Ep0Action::SetConfiguration(0),
                v if v == u16::from(CONFIG_VALUE) => Ep0Action::SetConfiguration(CONFIG_VALUE),
                _ => Ep0Action::Stall,
            },
            (0x81, USB_REQ_GET_INTERFACE) if req.index == INTERFACE && req.length > 0 => {
                cut(vec![0])
            }
            (0x01, USB_REQ_SET_INTERFACE)
                if req.index == INTERFACE && req.value == 0 && req.length == 0 =>
            {
                Ep0Action::Ack
            }
            (0xa1, GET_MAX_LUN) if req.index == INTERFACE && req.value == 0 && req.length >= 1 => {
                Ep0Action::GetMaxLun
            }
            (0x21, BULK_ONLY_RESET)
                if req.index == INTERFACE && req.value == 0 && req.length == 0 =>
            {
                Ep0Action::BulkReset
            }
            _ => Ep0Action::Stall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descs() -> Descriptors {
        Descriptors {
            identity: Identity {
                vid: 0x1d6b,
                pid: 0x0104,
                manufacturer: "UBTEST".into(),
                product: "BOT FAULTS".into(),
                serial: "UBFAULT0".into(),
            },
            ep_in: 0x81,
            ep_out: 0x02,
        }
    }

    fn req(rt: u8, r: u8, value: u16, index: u16, length: u16) -> CtrlRequest {
        CtrlRequest {
            request_type: rt,
            request: r,
            value,
            index,
            length,
        }
    }

    #[test]
    fn parses_setup_packet() {
        let r = CtrlRequest::parse(&[0x80, 6, 0x00, 0x01, 0, 0, 0x12, 0]).unwrap();
        assert_eq!(r, req(0x80, 6, 0x0100, 0, 18));
        assert!(CtrlRequest::parse(&[0; 7]).is_none());
    }

    #[test]
    fn device_descriptor() {
        let d = descs().device();
        assert_eq!(d.len(), 18);
        assert_eq!(&d[8..12], &[0x6b, 0x1d, 0x04, 0x01]);
        assert_eq!(d[17], 1);
        // Truncated to wLength (the host first asks for 8 bytes).
        assert_eq!(
            descs().handle(&req(0x80, 6, 0x0100, 0, 8)),
            Ep0Action::Data(d[..8].to_vec())
        );
    }

    #[test]
    fn configuration_descriptor_is_bot() {
        let d = descs().config(USB_DT_CONFIG, 512);
        assert_eq!(d.len(), 32);
        assert_eq!(u16::from_le_bytes([d[2], d[3]]), 32);
        // Interface: class 08, subclass 06, protocol 0x50, two endpoints.
        assert_eq!(&d[9..18], &[9, 4, 0, 0, 2, 8, 6, 0x50, 0]);
        assert_eq!(&d[18..25], &[7, 5, 0x81, 2, 0x00, 0x02, 0]);
        assert_eq!(&d[25..32], &[7, 5, 0x02, 2, 0x00, 0x02, 0]);
        let other = descs().handle(&req(0x80, 6, 0x0700, 0, 255));
        let Ep0Action::Data(o) = other else {
            panic!("{other:?}")
        };
        assert_eq!(o[1], 7);
        assert_eq!(&o[22..24], &[64, 0]);
    }

    #[test]
    fn strings() {
        let d = descs();
        assert_eq!(d.string(0).unwrap(), [4, 3, 9, 4]);
        let s = d.string(3).unwrap();
        assert_eq!(s[0] as usize, s.len());
        assert_eq!(&s[2..6], &[b'U', 0, b'B', 0]);
        assert_eq!(
            d.handle(&req(0x80, 6, 0x0304, 0x409, 255)),
            Ep0Action::Stall
        );
    }

    #[test]
    fn class_and_standard_requests() {
        let d = descs();
        assert_eq!(d.handle(&req(0xa1, 0xfe, 0, 0, 1)), Ep0Action::GetMaxLun);
        assert_eq!(d.handle(&req(0x21, 0xff, 0, 0, 0)), Ep0Action::BulkReset);
        assert_eq!(d.handle(&req(0x21, 0xff, 0, 1, 0)), Ep0Action::Stall);
        assert_eq!(
            d.handle(&req(0, 9, 1, 0, 0)),
            Ep0Action::SetConfiguration(1)
        );
        assert_eq!(
            d.handle(&req(0, 9, 0, 0, 0)),
            Ep0Action::SetConfiguration(0)
        );
        assert_eq!(d.handle(&req(0, 9, 2, 0, 0)), Ep0Action::Stall);
        assert_eq!(
            d.handle(&req(0x80, 8, 0, 0, 1)),
            Ep0Action::GetConfiguration
        );
        assert_eq!(d.handle(&req(1, 11, 0, 0, 0)), Ep0Action::Ack);
        assert_eq!(d.handle(&req(1, 11, 1, 0, 0)), Ep0Action::Stall);
        assert_eq!(d.handle(&req(0x80, 6, 0x0f00, 0, 5)), Ep0Action::Stall); // BOS
        assert_eq!(
            d.handle(&req(0x80, 6, 0x0600, 0, 10)),
            Ep0Action::Data(d.qualifier())
        );
    }
}
