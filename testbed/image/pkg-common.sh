# The packaged scenario's helpers: install our .deb, run a daemon the way its
# installed systemd unit would (there is no systemd in these containers), and
# remove and purge the package, checking that nothing is left behind.
. /testbed/common.sh

# Everything on the root filesystem that a package could leave behind (not
# /etc/passwd- and friends: the shadow tools' backups come and go).
snapshot() {
  find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /run -o -path /shared \
    -o -path /data -o -path /var/lib/dpkg -o -path /var/cache/debconf -o -path /var/log/dpkg.log \
    -o -path /var/log/alternatives.log -o -path /var/log/apt -o -path /testbed -o -path /debs \) -prune -o -print \
    | grep -vE '^/etc/(passwd|group|shadow|gshadow)-$' | sort
}

# install PACKAGE CONF: dpkg -i of the older build (/debs/old), then the
# upgrade to the newer one (postinst configure with the old version, the
# admin's edit of the config kept, the newer version installed).
install_package() {
  snapshot > /tmp/before
  dpkg -i /debs/old/"$1"_*.deb
  local old; old=$(dpkg-query -W -f='${Version}' "$1")
  echo "# the admin's edit" >> "/etc/gsslog/$2.conf"
  dpkg -i /debs/"$1"_*.deb
  grep -q "^# the admin's edit" "/etc/gsslog/$2.conf" || { echo "$1: the upgrade replaced an edited conffile" >&2; exit 1; }
  local new; new=$(dpkg-query -W -f='${Version}' "$1")
  dpkg --compare-versions "$new" gt "$old" || { echo "$1: the upgrade went from $old to $new" >&2; exit 1; }
  echo "$1: upgraded from $old to $new"
}

# run_unit UNIT: starts ExecStart= of the installed unit in the background as
# its User=/Group=, with its Environment= (specifiers %d %t %C expanded), its
# UMask=, its directories (State/Runtime/Cache/LogsDirectory with their
# modes), its LoadCredential=keytab (copied readable by the user only), its
# AmbientCapabilities= and NoNewPrivileges. Sets $daemon to the pid.
run_unit() {
  local unit=/lib/systemd/system/$1 key value creds=/run/credentials/$1
  local -A one=()
  local -a envs=() credentials=() argv=()
  while IFS='=' read -r key value; do
    case $key in
      Environment) envs+=("$value") ;;
      LoadCredential) credentials+=("$value") ;;
      *) one[$key]=$value ;;
    esac
  done < <(grep -E '^[A-Za-z]+=' "$unit")
  local user=${one[User]} group=${one[Group]} umask=${one[UMask]:-0022} caps=${one[AmbientCapabilities]:-}
  local kind dir
  for kind in State:/var/lib Runtime:/run Cache:/var/cache Logs:/var/log; do
    dir=${one[${kind%%:*}Directory]:-}
    [ -z "$dir" ] || install -d -m "${one[${kind%%:*}DirectoryMode]:-0755}" -o "$user" -g "$group" "${kind#*:}/$dir"
  done
  mkdir -p "$creds"
  for value in "${credentials[@]}"; do
    install -m 0400 -o "$user" "${value#*:}" "$creds/${value%%:*}"
  done
  local exec_start=${one[ExecStart]}
  for i in "${!envs[@]}"; do
    envs[$i]=$(sed -e "s#%d#$creds#g; s#%t#/run#g; s#%C#/var/cache#g" <<<"${envs[$i]}")
  done
  read -r -a argv <<<"$exec_start"
  local -a capargs=()
  if [ -n "$caps" ]; then
    local c; c=$(tr 'A-Z' 'a-z' <<<"${caps#CAP_}")
    c=${c#cap_}
    capargs=(--inh-caps="+$c" --ambient-caps="+$c" --bounding-set="-all,+$c")
  else
    capargs=(--inh-caps=-all --bounding-set=-all)
  fi
  echo "run_unit $1: ${argv[*]} as $user:$group, umask $umask, caps '${caps:-none}'"
  (umask "$umask"; exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin KRB5_CONFIG=/etc/krb5.conf "${envs[@]}" \
     setpriv --reuid="$user" --regid="$group" --init-groups --no-new-privs "${capargs[@]}" -- "${argv[@]}") &
  daemon=$!
}

# The daemon runs as the unit's user with exactly the unit's capabilities.
check_identity() { # pid user expected-CapEff
  local pid=$1 want_user=$2 want_caps=$3 user caps
  for _ in $(seq 1 50); do
    user=$(ps -o user= -p "$pid" | tr -d ' ')
    [ "$user" = "$want_user" ] && break
    sleep 0.1
  done
  caps=$(sed -n 's/^CapEff:\t*//p' "/proc/$pid/status")
  echo "identity: pid $pid runs as $user with CapEff $caps"
  [ "$user" = "$want_user" ] || { echo "runs as '$user', not $want_user" >&2; return 1; }
  [ "$caps" = "$want_caps" ] || { echo "CapEff $caps, expected $want_caps" >&2; return 1; }
}

# Waits for the run script's signal, stops the daemon, removes and purges the
# package; writes "ok" or what was wrong to /shared/removal/$NODE.
remove_when_told() { # package
  local pkg=$1 report=/shared/removal/$NODE problems=""
  mkdir -p /shared/removal
  while [ ! -f /shared/uninstall ]; do sleep 0.5; done
  kill -TERM "$daemon"; wait "$daemon" || true
  rm -f /etc/gsslog/*.keytab # the admin's, not the package's
  local files; files=$(dpkg -L "$pkg" | grep -v '^/\.$')
  dpkg -r "$pkg" >/tmp/remove.log 2>&1 || problems+="dpkg -r failed: $(cat /tmp/remove.log); "
  for f in /usr/sbin/imgssapi /usr/sbin/omgssapi "/lib/systemd/system/$pkg.service"; do
    [ ! -e "$f" ] || problems+="$f left after remove; "
  done
  ls /etc/gsslog/*.conf >/dev/null 2>&1 || problems+="remove deleted the config (a conffile stays until purge); "
  dpkg -P "$pkg" >/tmp/purge.log 2>&1 || problems+="dpkg -P failed: $(cat /tmp/purge.log); "
  ! getent passwd "$pkg" >/dev/null || problems+="user $pkg left after purge; "
  ! getent group "$pkg" >/dev/null || problems+="group $pkg left after purge; "
  snapshot > /tmp/after
  local left; left=$(comm -13 /tmp/before /tmp/after | tr '\n' ' ')
  [ -z "$left" ] || problems+="left after purge: $left; "
  local gone; gone=$(comm -23 /tmp/before /tmp/after | tr '\n' ' ')
  [ -z "$gone" ] || problems+="purge removed what was there before: $gone; "
  echo "${problems:-ok}" > "$report"
  echo "removal of $pkg: ${problems:-ok}"
}
