# Sourced by the check scripts. Creates project-local Python virtual environments from
# pinned requirements files.

# Creates or updates the virtual environment DIR from REQUIREMENTS, unless DIR was already
# installed from a requirements file with the same content.
ensure_venv() {
    local dir=$1
    local requirements=$2
    local stamp="$dir/.requirements.sha256"
    local digest
    digest=$(sha256sum "$requirements" | cut -d' ' -f1)

    if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$digest" ]]; then
        return 0
    fi

    echo "==> installing $requirements into $dir"
    if [[ ! -x "$dir/bin/python" ]]; then
        python3 -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$digest" > "$stamp"
}
