//! `cordon plugin new NAME`: a new provider plugin and its simulator, in a
//! repository of their own, that build and pass their tests as generated.
//!
//! The templates are in `host/templates/plugin/`; every placeholder is
//! replaced from one [`Names`], so a file cannot name the plugin two ways.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// `cordon plugin new NAME [--path DIR] [--cordon-src DIR | --git URL --tag TAG]`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The provider's name: lowercase letters, digits and single hyphens,
    /// starting with a letter (`acme-idp`). It names the provider in
    /// identities, the crates and the component.
    name: String,
    /// Where to create the repository (default: `./cordon-plugin-NAME`). It
    /// must not exist, or be an empty directory.
    #[arg(long)]
    path: Option<PathBuf>,
    /// A checkout of Cordon at the version you target: the SDK and the
    /// simulator framework are taken from it by path, and its `Cargo.lock`
    /// pins the dependencies. Default: the Cordon source tree around the
    /// current directory, if any.
    #[arg(long, conflicts_with = "git")]
    cordon_src: Option<PathBuf>,
    /// Take the SDK and the simulator framework from this Git repository of
    /// Cordon instead (with `--tag`).
    #[arg(long, requires = "tag")]
    git: Option<String>,
    /// The Cordon release tag to build against, with `--git` (e.g. `v0.1.0`).
    #[arg(long, requires = "git")]
    tag: Option<String>,
}

/// The files of a new plugin repository, relative to its root.
const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/plugin/Cargo.toml.tmpl"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/plugin/gitignore.tmpl"),
    ),
    (
        "README.md",
        include_str!("../../templates/plugin/README.md.tmpl"),
    ),
    (
        "plugin/Cargo.toml",
        include_str!("../../templates/plugin/plugin.Cargo.toml.tmpl"),
    ),
    (
        "plugin/src/lib.rs",
        include_str!("../../templates/plugin/lib.rs.tmpl"),
    ),
    (
        "plugin/src/client.rs",
        include_str!("../../templates/plugin/client.rs.tmpl"),
    ),
    (
        "sim/Cargo.toml",
        include_str!("../../templates/plugin/sim.Cargo.toml.tmpl"),
    ),
    (
        "sim/src/lib.rs",
        include_str!("../../templates/plugin/sim.lib.rs.tmpl"),
    ),
    (
        "sim/src/main.rs",
        include_str!("../../templates/plugin/sim.main.rs.tmpl"),
    ),
];

/// A valid plugin name and the spellings the templates use.
#[derive(Debug, PartialEq)]
struct Names {
    /// `acme-idp`: the provider, and the crates' suffix.
    name: String,
    /// `acme_idp`: the crates' Rust names' suffix.
    krate: String,
    /// `AcmeIdp`: the simulator's type names.
    ty: String,
}

impl Names {
    fn parse(name: &str) -> anyhow::Result<Names> {
        let valid = name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.split('-').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !valid {
            bail!(
                "NAME `{name}` is not a plugin name: use lowercase letters, digits and single \
                 hyphens, starting with a letter, at most 40 characters (e.g. `acme-idp`)"
            );
        }
        let ty = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                let first = chars.next().map(|c| c.to_ascii_uppercase());
                first.into_iter().chain(chars).collect::<String>()
            })
            .collect();
        Ok(Names {
            name: name.to_string(),
            krate: name.replace('-', "_"),
            ty,
        })
    }

    fn render(&self, template: &str, deps: &str) -> String {
        template
            .replace("{{deps}}", deps)
            .replace("{{name}}", &self.name)
            .replace("{{crate}}", &self.krate)
            .replace("{{Type}}", &self.ty)
    }
}

/// Where the SDK and the simulator framework come from.
enum Source {
    /// A Cordon checkout, by path; its lock file pins the dependencies.
    Checkout(PathBuf),
    /// A Cordon Git repository at a tag.
    Git { url: String, tag: String },
}

impl Source {
    fn dependencies(&self) -> String {
        let dep = |krate: &str, dir: &str| match self {
            Source::Checkout(root) => {
                let path = root.join(dir).display().to_string();
                format!("{krate} = {{ path = {} }}", toml_string(&path))
            }
            Source::Git { url, tag } => format!(
                "{krate} = {{ git = {}, tag = {} }}",
                toml_string(url),
                toml_string(tag)
            ),
        };
        [
            dep("cordon-plugin-sdk", "plugins/sdk"),
            dep("cordon-sim", "sim"),
        ]
        .join("\n")
    }
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// A directory is a Cordon checkout when it holds the SDK and the contract.
fn is_checkout(dir: &Path) -> bool {
    dir.join("plugins/sdk/Cargo.toml").is_file() && dir.join("wit/provider.wit").is_file()
}

fn source(args: &NewArgs) -> anyhow::Result<Source> {
    if let (Some(url), Some(tag)) = (&args.git, &args.tag) {
        return Ok(Source::Git {
            url: url.clone(),
            tag: tag.clone(),
        });
    }
    let root = match &args.cordon_src {
        Some(dir) => {
            let dir = std::path::absolute(dir)
                .with_context(|| format!("--cordon-src {}", dir.display()))?;
            if !is_checkout(&dir) {
                bail!(
                    "--cordon-src {}: not a Cordon checkout (no plugins/sdk/Cargo.toml and wit/provider.wit)",
                    dir.display()
                );
            }
            dir
        }
        None => {
            let here = std::env::current_dir().context("the current directory")?;
            here.ancestors()
                .find(|dir| is_checkout(dir))
                .map(Path::to_path_buf)
                .context(
                    "no Cordon source tree around the current directory: pass --cordon-src DIR (a \
                 checkout of the Cordon version you target) or --git URL --tag TAG",
                )?
        }
    };
    Ok(Source::Checkout(root))
}

/// Creates the repository; prints what it wrote and what to run next.
pub fn new(args: NewArgs) -> anyhow::Result<u8> {
    let names = Names::parse(&args.name)?;
    let source = source(&args)?;
    let root = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("cordon-plugin-{}", names.name)));
    if root.exists() {
        let empty = root.is_dir()
            && std::fs::read_dir(&root)
                .with_context(|| format!("--path {}", root.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "--path {}: already exists and is not an empty directory; nothing was written",
                root.display()
            );
        }
    }
    let deps = source.dependencies();
    for (file, template) in FILES {
        let path = root.join(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, names.render(template, &deps))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Source::Checkout(cordon) = &source {
        let lock = cordon.join("Cargo.lock");
        if lock.is_file() {
            std::fs::copy(&lock, root.join("Cargo.lock"))
                .with_context(|| format!("copying {}", lock.display()))?;
        }
    }
    sayln!("created {} for provider `{}`:", root.display(), names.name);
    for (file, _) in FILES {
        sayln!("  {file}");
    }
    sayln!(
        "next:\n  cd {}\n  cargo test\n  cargo build -p cordon-plugin-{} --target wasm32-wasip2 --release",
        root.display(),
        names.name
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_spelled_each_way() {
        let names = Names::parse("acme-idp2").unwrap();
        assert_eq!(
            (names.krate.as_str(), names.ty.as_str()),
            ("acme_idp2", "AcmeIdp2")
        );
        for bad in [
            "",
            "Acme",
            "acme_idp",
            "-acme",
            "acme-",
            "acme--idp",
            "2acme",
            "acme idp",
        ] {
            let err = Names::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("NAME `"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_placeholder_is_replaced() {
        let names = Names::parse("acme").unwrap();
        let deps = Source::Git {
            url: "https://example.com/cordon.git".into(),
            tag: "v0.1.0".into(),
        }
        .dependencies();
        assert!(deps.contains(
            r#"cordon-plugin-sdk = { git = "https://example.com/cordon.git", tag = "v0.1.0" }"#
        ));
        for (file, template) in FILES {
            let text = names.render(template, &deps);
            assert!(!text.contains("{{"), "{file} keeps a placeholder");
        }
    }
}
