//! The console.

pub fn run(_ws: crate::workspace::Workspace) -> color_eyre::eyre::Result<()> {
    Ok(())
}
