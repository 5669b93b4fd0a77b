# shellcheck shell=bash
# Shell helpers the benchmark scripts share (sourced by run.sh and quay.sh).

# copy_demo_keys ROOT DIR: the quickstart's demo key pair into DIR.
copy_demo_keys() {
    cp "$1/examples/quickstart/demo-cosign.key" "$1/examples/quickstart/demo-cosign.pub" "$2/"
}

# releases_toml SOURCE TARGET ROWS FILE: a releases.toml promoting from
# SOURCE to TARGET (full locations, e.g. http://127.0.0.1:5000/dev) the rows
# of the workload file ROWS (service, dev tag, release tag, digest; a
# service's rows consecutive), scanning off, signed with the demo key in the
# legacy format only ($BENCH_FORMATS, a TOML list, to change it): what the
# signed loop writes, which issue 18's targets compare with (quayside's
# default since issue 17 is both formats: tests/all/apply_requests.rs).
releases_toml() {
    {
        printf 'version = 1\n[registries]\nsource = "%s"\ntarget = "%s"\n' "$1" "$2"
        printf '[policy]\nvulnerability_source = "none"\n'
        printf '[signing]\nkey = "demo-cosign.key"\npublic_key = "demo-cosign.pub"\n'
        printf 'formats = %s\n' "${BENCH_FORMATS:-[\"legacy\"]}"
        local last=
        while IFS=$'\t' read -r svc _ tag digest; do
            [ "$svc" = "$last" ] || printf '[services.%s.releases]\n' "$svc"
            last=$svc
            printf '"%s" = "%s"\n' "$tag" "$digest"
        done <"$3"
    } >"$4"
}
