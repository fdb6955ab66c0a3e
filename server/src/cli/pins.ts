/**
 * The scanners `npm run tools -- install` installs, at these versions (the Dockerfile runs the same
 * command, so these are its pins too), and how: built with Go or from its release archives, or from
 * PyPI. Change a version here, and `npm run tools -- install` puts it in place of the old one.
 */

export interface Scanner {
  version: string;
  /** The argv that prints the version (checked against the pin after every install). */
  versionArgs: string[];
  install: { go: GoBuild } | { pip: string };
}

export interface GoBuild {
  /** The main package, built with `go install <package>@v<version>`. */
  package: string;
  /** -X flags that give the binary its version, as the project's own release build does. */
  versionVariable: string;
  /** Build settings of the project's own release build. */
  env?: Record<string, string>;
  /** The GitHub repository and its release archive and checksums file names, for this version and architecture. */
  release: { repo: string; archive: (version: string, arch: 'amd64' | 'arm64') => string; checksums: (version: string) => string };
}

/** Anchore's tools (Syft, Grype) share one way of building and releasing. */
function anchore(name: string, version: string): Scanner {
  const release = { repo: `anchore/${name}`, archive: (v: string, arch: string) => `${name}_${v}_linux_${arch}.tar.gz`, checksums: (v: string) => `${name}_${v}_checksums.txt` };
  return { version, versionArgs: ['version'], install: { go: { package: `github.com/anchore/${name}/cmd/${name}`, versionVariable: 'main.version', release } } };
}

export const SCANNERS: Readonly<Record<string, Scanner>> = {
  trivy: {
    version: '0.74.0',
    versionArgs: ['--version'],
    install: {
      go: {
        package: 'github.com/aquasecurity/trivy/cmd/trivy',
        versionVariable: 'github.com/aquasecurity/trivy/pkg/version/app.ver',
        env: { GOEXPERIMENT: 'jsonv2' },
        release: {
          repo: 'aquasecurity/trivy',
          archive: (v, arch) => `trivy_${v}_Linux-${arch === 'amd64' ? '64bit' : 'ARM64'}.tar.gz`,
          checksums: (v) => `trivy_${v}_checksums.txt`,
        },
      },
    },
  },
  syft: anchore('syft', '1.57.2'),
  // 0.122 needs a newer Go than 1.26.
  grype: anchore('grype', '0.121.3'),
  prowler: { version: '5.46.0', versionArgs: ['--version'], install: { pip: 'prowler' } },
};
