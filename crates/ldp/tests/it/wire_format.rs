//! The binary batch: what the device encodes the server decodes, exactly; bad
//! batches are refused whole.

use tessera_ldp::wire::{cms_bits_to_hex, cms_report_from_hex, decode_batch, encode_batch};
use tessera_ldp::{seeded_rng, LdpParams, Mechanism, Randomiser, Report, Sketch};

#[test]
fn batch_round_trips_into_the_same_sketch() {
    for (mechanism, m) in [(Mechanism::Cms, 1000), (Mechanism::Hcms, 1024)] {
        let params = LdpParams::new(mechanism, 4.0, 16, m).unwrap();
        let r = Randomiser::new(params, b"genre_plays");
        let mut rng = seeded_rng(5, 1);
        let reports: Vec<Report> = (0..50).map(|_| r.randomise(b"jazz", &mut rng)).collect();
        let bytes = encode_batch("genre_plays", &params, &reports).unwrap();
        let per = if mechanism == Mechanism::Cms {
            2 + 125
        } else {
            5
        };
        assert_eq!(bytes.len(), 4 + 1 + 1 + 2 + 11 + 8 + 4 + 4 + 4 + 50 * per);
        let (header, sketch) = decode_batch(&bytes).unwrap();
        assert_eq!(header.report, "genre_plays");
        assert_eq!(header.params, params);
        let mut expected = Sketch::new(params);
        for rep in &reports {
            expected.add(rep).unwrap();
        }
        assert_eq!(sketch, expected);

        // A truncated batch, or one with a trailing byte, is refused whole.
        assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_batch(&longer).is_err());
        assert!(decode_batch(b"GET / HTTP/1.1").is_err());
    }
}

#[test]
fn out_of_range_fields_are_refused() {
    let params = LdpParams::new(Mechanism::Hcms, 4.0, 4, 64).unwrap();
    let r = Randomiser::new(params, b"x");
    let rep = r.randomise(b"a", &mut seeded_rng(1, 1));
    let mut bytes = encode_batch("x", &params, &[rep]).unwrap();
    let at = bytes.len() - 5;
    bytes[at + 1] = 9; // row 9 ≥ k = 4
    let err = decode_batch(&bytes).unwrap_err();
    assert!(err.to_string().contains("row 9"), "{err}");
}

#[test]
fn hex_form_round_trips() {
    let params = LdpParams::new(Mechanism::Cms, 4.0, 4, 100).unwrap();
    let r = Randomiser::new(params, b"x");
    let Report::Cms(rep) = r.randomise(b"a", &mut seeded_rng(1, 2)) else {
        panic!()
    };
    let hex = cms_bits_to_hex(&rep, 100);
    assert_eq!(hex.len(), 26);
    assert_eq!(cms_report_from_hex(&params, rep.row(), &hex).unwrap(), rep);
    assert!(cms_report_from_hex(&params, 0, "zz").is_err());
    // A bit beyond m = 100 is refused.
    let mut bad = hex.clone();
    bad.replace_range(24..26, "ff");
    assert!(cms_report_from_hex(&params, 0, &bad).is_err());
}
