//! LoRa (and FSK) time on air: pure functions, checked against Semtech's
//! LoRa calculator / the TTN airtime table (explicit header, CRC on,
//! 8-symbol preamble, the LoRaWAN settings).

/// LoRa bandwidths a radio can use, in Hz: the sub-GHz ones of the SX127x
/// and SX126x (7.8 to 500 kHz; LoRaWAN uses 125, 250 and 500) and the
/// 2.4 GHz ones of the SX128x. Anything else (a 1 Hz bandwidth would make
/// one frame 2.76e9 s long) is not a LoRa frame.
pub const LORA_BANDWIDTHS: [u32; 14] = [
    7_800, 10_400, 15_600, 20_800, 31_250, 41_700, 62_500, 125_000, 250_000, 500_000, 203_125,
    406_250, 812_500, 1_625_000,
];
/// Spreading factors a LoRa radio can use (SF5 and SF6: SX126x, SX128x).
pub const LORA_SPREADING_FACTORS: std::ops::RangeInclusive<u32> = 5..=12;
/// FSK bit rates a LoRaWAN gateway radio can use (LoRaWAN: 50 kbit/s).
pub const FSK_BIT_RATES: std::ops::RangeInclusive<u32> = 600..=300_000;
/// Longest PHY payload of a LoRa or FSK frame, in bytes.
pub const MAX_PHY_PAYLOAD: usize = 255;

/// Whether `sf` and `bandwidth_hz` are settings a LoRa radio has.
pub fn lora_settings_known(sf: u32, bandwidth_hz: u32) -> bool {
    LORA_SPREADING_FACTORS.contains(&sf) && LORA_BANDWIDTHS.contains(&bandwidth_hz)
}

/// Preamble symbols LoRaWAN uses.
const PREAMBLE_SYMBOLS: f64 = 8.0;

/// Time on air in seconds of one LoRa frame of `payload_len` PHY payload
/// bytes (at most [`MAX_PHY_PAYLOAD`]), at spreading factor `sf` (5..=12),
/// `bandwidth_hz` (one of [`LORA_BANDWIDTHS`]) and coding rate
/// 4/`cr_denominator` (5..=8), with explicit header and CRC on (uplinks).
/// Low data rate optimisation is on where LoRaWAN requires it (symbol time
/// of 16 ms or more: SF11 and SF12 at 125 kHz, SF12 at 250 kHz).
/// `None` for values outside those ranges.
pub fn lora(sf: u32, bandwidth_hz: u32, cr_denominator: u32, payload_len: usize) -> Option<f64> {
    if !lora_settings_known(sf, bandwidth_hz)
        || !(5..=8).contains(&cr_denominator)
        || payload_len > MAX_PHY_PAYLOAD
    {
        return None;
    }
    let bw = f64::from(bandwidth_hz);
    let t_sym = f64::from(1u32 << sf) / bw;
    let de = if t_sym >= 0.016 { 1.0 } else { 0.0 };
    let (crc, ih) = (1.0, 0.0);
    let sf_f = f64::from(sf);
    let pl = payload_len as f64;
    let num = 8.0 * pl - 4.0 * sf_f + 28.0 + 16.0 * crc - 20.0 * ih;
    let den = 4.0 * (sf_f - 2.0 * de);
    let cr = f64::from(cr_denominator - 4);
    let payload_symbols = 8.0 + ((num / den).ceil() * (cr + 4.0)).max(0.0);
    let preamble = (PREAMBLE_SYMBOLS + 4.25) * t_sym;
    Some(preamble + payload_symbols * t_sym)
}

/// Time on air in seconds of one FSK frame: 5 preamble bytes, 3 sync word
/// bytes, 1 length byte, the payload and a 2-byte CRC at `bit_rate` bit/s
/// (in [`FSK_BIT_RATES`]); `None` outside the bounds.
pub fn fsk(bit_rate: u32, payload_len: usize) -> Option<f64> {
    if !FSK_BIT_RATES.contains(&bit_rate) || payload_len > MAX_PHY_PAYLOAD {
        return None;
    }
    let bytes = 5 + 3 + 1 + payload_len + 2;
    Some((bytes * 8) as f64 / f64::from(bit_rate))
}

/// The denominator of a coding rate written `4/5` (also `4/5LI`); LoRaWAN
/// uses 4/5, so anything unreadable is taken as 5.
pub fn coding_rate_denominator(cr: Option<&str>) -> u32 {
    cr.and_then(|s| s.strip_prefix("4/"))
        .and_then(|d| d.get(..1))
        .and_then(|d| d.parse().ok())
        .filter(|d| (5..=8).contains(d))
        .unwrap_or(5)
}

/// Bytes encoded by a standard base64 string (with or without padding),
/// without decoding it.
pub fn base64_len(s: &str) -> usize {
    let trimmed = s.trim_end_matches('=');
    trimmed.len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: Option<f64>) -> f64 {
        (v.expect("valid settings") * 10_000.0).round() / 10.0
    }

    /// The TTN / Semtech table for a 13-byte PHY payload (a LoRaWAN frame
    /// with no application payload), EU868 125 kHz, CR 4/5.
    #[test]
    fn matches_the_published_table_for_13_bytes() {
        let table = [
            (7, 46.3),
            (8, 82.4),
            (9, 164.9),
            (10, 288.8),
            (11, 577.5),
            (12, 1155.1),
        ];
        for (sf, want) in table {
            let got = (lora(sf, 125_000, 5, 13).expect("valid") * 10_000.0).round() / 10_000.0;
            assert!(
                (got * 1000.0 - want).abs() < 0.06,
                "SF{sf}: {} ms, want {want} ms",
                got * 1000.0
            );
        }
    }

    #[test]
    fn sf7_payload_sizes() {
        // Semtech calculator, SF7 BW125 CR4/5, explicit header, CRC on.
        assert_eq!(ms(lora(7, 125_000, 5, 13)), 46.3);
        assert_eq!(ms(lora(7, 125_000, 5, 23)), 61.7);
        assert_eq!(ms(lora(7, 125_000, 5, 64)), 118.0);
        assert_eq!(ms(lora(7, 125_000, 5, 255)), 399.6);
        // The fixture's uplink: 50 bytes at SF7.
        assert_eq!(ms(lora(7, 125_000, 5, 50)), 97.5);
    }

    #[test]
    fn sf12_uses_low_data_rate_optimisation() {
        // Exact: 12.25 preamble + 23 payload symbols of 32.768 ms.
        let t = lora(12, 125_000, 5, 13).expect("valid");
        assert!((t - 1.155072).abs() < 1e-9, "{t}");
        // 51 application bytes (64 PHY bytes) at SF12: 2793.5 ms in the table.
        assert_eq!(ms(lora(12, 125_000, 5, 64)), 2793.5);
        // SF12 at 250 kHz also has a 16 ms symbol: optimisation on.
        assert_eq!(ms(lora(12, 250_000, 5, 13)), 577.5);
    }

    #[test]
    fn coding_rate_and_bounds() {
        assert!(lora(7, 125_000, 8, 13) > lora(7, 125_000, 5, 13));
        assert_eq!(lora(13, 125_000, 5, 13), None);
        assert_eq!(lora(7, 0, 5, 13), None);
        assert_eq!(coding_rate_denominator(Some("4/5")), 5);
        assert_eq!(coding_rate_denominator(Some("4/8LI")), 8);
        assert_eq!(coding_rate_denominator(Some("garbage")), 5);
        assert_eq!(coding_rate_denominator(None), 5);
    }

    #[test]
    fn fsk_and_base64() {
        // 13 bytes + 11 overhead bytes at 50 kbit/s.
        assert_eq!(fsk(50_000, 13), Some(24.0 * 8.0 / 50_000.0));
        assert_eq!(fsk(0, 13), None);
        assert_eq!(
            base64_len("QBGZCyYAizQQobYbt9Ckf1wdQsfykrWjSqMm9pvWrFJcFzuXAQ5J/5KobYji2wGE3ko="),
            50
        );
        assert_eq!(base64_len("AAAA"), 3);
        assert_eq!(base64_len("AA=="), 1);
    }
}
