//! The sketch: merge is the sketch of the union, the file round-trips, damage and
//! changed parameters are refused.

use tessera_ldp::{
    seeded_rng, Error, LdpParams, Mechanism, Randomiser, Report, Sketch, SketchFile,
};

fn reports(params: LdpParams, seed: u64, n: usize) -> Vec<Report> {
    let r = Randomiser::new(params, b"genres");
    let mut rng = seeded_rng(seed, 0);
    let genres: [&[u8]; 3] = [b"jazz", b"rock", b"pop"];
    (0..n)
        .map(|i| r.randomise(genres[i % 3], &mut rng))
        .collect()
}

fn sketch_of(params: LdpParams, reports: &[Report]) -> Sketch {
    let mut s = Sketch::new(params);
    for r in reports {
        s.add(r).unwrap();
    }
    s
}

#[test]
fn merge_is_the_sketch_of_the_union() {
    for mechanism in [Mechanism::Cms, Mechanism::Hcms] {
        let params = LdpParams::new(mechanism, 2.0, 8, 128).unwrap();
        let a = reports(params, 1, 500);
        let b = reports(params, 2, 700);
        let mut merged = sketch_of(params, &a);
        merged.merge(&sketch_of(params, &b)).unwrap();
        let union: Vec<Report> = a.iter().chain(&b).cloned().collect();
        assert_eq!(merged, sketch_of(params, &union));
        assert_eq!(merged.reports(), 1200);
        // Merge order does not matter.
        let mut other = sketch_of(params, &b);
        other.merge(&sketch_of(params, &a)).unwrap();
        assert_eq!(merged, other);
    }
}

#[test]
fn merging_other_parameters_is_refused() {
    let a = LdpParams::new(Mechanism::Cms, 2.0, 8, 128).unwrap();
    let b = LdpParams::new(Mechanism::Cms, 3.0, 8, 128).unwrap();
    let mut s = Sketch::new(a);
    let err = s.merge(&Sketch::new(b)).unwrap_err();
    assert!(matches!(err, Error::ParameterMismatch { .. }), "{err}");
    let hcms = LdpParams::new(Mechanism::Hcms, 2.0, 8, 128).unwrap();
    let r = reports(hcms, 1, 1);
    assert!(s.add(&r[0]).is_err());
    assert_eq!(s.reports(), 0);
}

#[test]
fn persisted_sketch_round_trips_and_damage_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let params = LdpParams::new(Mechanism::Cms, 4.0, 4, 100).unwrap();
    let file = SketchFile::new(dir.path().join("ldp").join("genres.sketch"));
    assert_eq!(file.load_or_new(params).unwrap(), Sketch::new(params));
    let sketch = sketch_of(params, &reports(params, 3, 300));
    file.save(&sketch).unwrap();
    assert_eq!(file.load_or_new(params).unwrap(), sketch);
    // Saving again replaces it atomically (no temporary file left behind).
    file.save(&sketch).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path().join("ldp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["genres.sketch"]);

    let other = LdpParams::new(Mechanism::Cms, 4.0, 4, 128).unwrap();
    let err = file.load_or_new(other).unwrap_err();
    assert!(err.to_string().contains("move the file away"), "{err}");

    let mut bytes = std::fs::read(file.path()).unwrap();
    bytes[60] ^= 1;
    std::fs::write(file.path(), &bytes).unwrap();
    let err = file.load().unwrap_err();
    assert!(matches!(err, Error::CorruptSketch { .. }), "{err}");
}
