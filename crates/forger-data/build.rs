//! Compiles the reduced-scale JPEG decoder (`csrc/scaled_jpeg.c`) against
//! libjpeg(-turbo) where its headers are installed (Debian:
//! `libjpeg62-turbo-dev`), and sets `cfg(forger_libjpeg)`. Without them the
//! crate still builds, and JPEGs decode at full size through the `image`
//! crate. `FORGER_NO_LIBJPEG=1` forces that path.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(forger_libjpeg)");
    println!("cargo::rerun-if-changed=csrc/scaled_jpeg.c");
    println!("cargo::rerun-if-env-changed=FORGER_NO_LIBJPEG");
    if std::env::var_os("FORGER_NO_LIBJPEG").is_some() {
        return;
    }
    let built = cc::Build::new()
        .file("csrc/scaled_jpeg.c")
        .opt_level(2)
        .warnings(true)
        .try_compile("forger_scaled_jpeg");
    match built {
        Ok(()) => {
            println!("cargo::rustc-link-lib=jpeg");
            println!("cargo::rustc-cfg=forger_libjpeg");
        }
        Err(e) => println!(
            "cargo::warning=libjpeg headers not found ({e}): JPEGs will decode at full size \
             (slower). Install libjpeg62-turbo-dev (Debian) or libjpeg-turbo8-dev (Ubuntu)."
        ),
    }
}
