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
  syft: {
    version: '1.57.2',
    versionArgs: ['version'],
    install: {
      go: {
        package: 'github.com/anchore/syft/cmd/syft',
        versionVariable: 'main.version',
        release: { repo: 'anchore/syft', archive: (v, arch) => `syft_${v}_linux_${arch}.tar.gz`, checksums: (v) => `syft_${v}_checksums.txt` },
      },
    },
  },
  grype: {
    // 0.122 needs a newer Go than 1.26.
    version: '0.121.3',
    versionArgs: ['version'],
    install: {
      go: {
        package: 'github.com/anchore/grype/cmd/grype',
        versionVariable: 'main.version',
        release: { repo: 'anchore/grype', archive: (v, arch) => `grype_${v}_linux_${arch}.tar.gz`, checksums: (v) => `grype_${v}_checksums.txt` },
      },
    },
  },
  prowler: { version: '5.46.0', versionArgs: ['--version'], install: { pip: 'prowler' } },
};
