//! `tessera init DIR`: a small, working feature repository to start from.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::demo_data::{
    generate, DemoSizes, DEMO_CONFIG, DEMO_DEFINITIONS, DEMO_DEVICE_DEFINITIONS, DEMO_ON_DEMAND,
};

/// Writes the scaffold.
pub(crate) async fn run(dir: &Path) -> Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty (hint: pick a new directory; init never overwrites files)",
            dir.display()
        );
    }
    scaffold(
        dir,
        DemoSizes {
            users: 200,
            items: 100,
            events: 5_000,
            days: 14,
            spine: 500,
        },
    )?;
    println!("Created a feature repository in {}:", dir.display());
    println!("  tessera.yaml            project config (registry, stores, audit log)");
    println!(
        "  features/media.yaml     entities, sources, feature views, purposes, consumers, services"
    );
    println!("  features/on_demand.yaml on-demand features (computed at request time)");
    println!("  features/device.yaml    device sources and views (computed on the device)");
    println!("  data/*.parquet          sample data (and data/spine.parquet, a training spine)");
    println!("Next:");
    println!("  tessera plan  --repo {}", dir.display());
    println!("  tessera apply --repo {}", dir.display());
    println!("  tessera training-set --repo {} --spine {}/data/spine.parquet --service ranker_v1 --out train.parquet", dir.display(), dir.display());
    Ok(())
}

/// Writes config, definitions and generated data into `dir`.
pub(crate) fn scaffold(dir: &Path, sizes: DemoSizes) -> Result<crate::demo_data::DemoFiles> {
    std::fs::create_dir_all(dir.join("features"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("tessera.yaml"), DEMO_CONFIG)?;
    std::fs::write(dir.join("features/media.yaml"), DEMO_DEFINITIONS)?;
    std::fs::write(dir.join("features/on_demand.yaml"), DEMO_ON_DEMAND)?;
    std::fs::write(dir.join("features/device.yaml"), DEMO_DEVICE_DEFINITIONS)?;
    std::fs::write(dir.join(".gitignore"), ".tessera/\ndata/\n*.parquet\n")?;
    generate(
        &dir.join("data"),
        sizes,
        42,
        crate::demo_data::history_start_now(sizes.days),
    )
}
