//! `hangar convert`: reads manifests of other MCP operators and prints (or
//! writes) the equivalent Hangar objects; what has no equivalent goes to stderr
//! and into a comment above each object.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// A manifest file, a directory of them, or - for stdin (`kubectl get … -o yaml` lists too). Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
    /// Write one file per object (NAMESPACE/KIND-NAME.yaml) into DIR instead of printing them.
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Fail, writing nothing, if any field has no Hangar equivalent.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    let mut documents = Vec::new();
    for path in &args.paths {
        documents.extend(hangar_manifests::read_documents(path)?);
    }
    let conversion = hangar_convert::convert(&documents)?;
    eprint!("{}", hangar_convert::output::summary(&conversion));
    if args.strict {
        conversion.check_strict()?;
    }
    match &args.output_dir {
        None => {
            let yaml = hangar_convert::output::yaml(&conversion)?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
        }
        Some(dir) => {
            for (file, text) in hangar_convert::output::files(&conversion)? {
                let path = dir.join(file);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}
