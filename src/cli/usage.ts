// Errors that mean "the command line is wrong" (exit status 2, usage shown).
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `usage: lafsd COMMAND [options]

Node directory (BASEDIR):
  lafsd init BASEDIR [--sftp-port ENDPOINT] [--ftp-port ENDPOINT] [--metrics-port ENDPOINT]
                                  create a node: tahoe.cfg, host key, empty accounts, store
  lafsd run BASEDIR               run the enabled SFTP/FTP servers (SIGHUP reloads accounts)
  lafsd check-config BASEDIR      check tahoe.cfg, accounts, keys, certificates and ports
                                  without starting anything (exit status 0: OK, 1: problems)
  lafsd quickstart BASEDIR        init + a first account (when BASEDIR is new), then run
  lafsd --version

Accounts:
  lafsd add-user BASEDIR NAME [--password PW | --password-stdin | --pubkey FILE] [--root CAP]
                                  add an account (new root directory unless --root); prints the root cap
  lafsd passwd BASEDIR NAME [--password PW | --password-stdin]
                                  set a new (hashed) password

Files, directly on the store (CAP[/PATH] is a cap, optionally with a path inside it):
  lafsd mkdir BASEDIR [CAP/PATH] [--no-keep]
                                  create a directory; prints its cap (without a path, the
                                  cap goes into the keep file, so gc keeps it, unless --no-keep)
  lafsd ls BASEDIR CAP[/PATH] [-l] [--uri]
  lafsd put BASEDIR [CAP/PATH] [--mutable [--format SDMF|MDMF]] [--no-keep] < FILE
                                  upload stdin; prints the new file's cap (without a path,
                                  it goes into the keep file, so gc keeps it, unless --no-keep)
  lafsd get BASEDIR CAP[/PATH] > FILE
  lafsd rm BASEDIR CAP/PATH       remove a file or an empty directory
  lafsd mv BASEDIR CAP/FROM CAP/TO

Garbage collection (embedded store):
  lafsd gc BASEDIR [--dry-run] [--ignore-damaged]
                                  delete what no account root, account-service root or kept
                                  cap reaches and the grace period no longer protects; prints
                                  what was (with --dry-run: would be) freed and kept

SFTP over stdio (OpenSSH Subsystem, sftp -D):
  lafsd sftp-server --stdio BASEDIR --user NAME
`;
