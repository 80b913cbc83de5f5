# bench/perfcat.awk: group the self time of `perf report --stdio --no-children --sort symbol
# -g none` into rough categories and print them as a Markdown table. With -v us=N (the
# process's CPU µs per request), each category also gets its µs per request.
#
# The grouping is a heuristic on symbol names; first match wins.

function category(kind, sym) {
  if (kind == "[k]") {
    if (sym ~ /^(finish_task_switch|_raw_spin_unlock_irq|__schedule|schedule|try_to_wake_up|ttwu|futex|enqueue_|dequeue_|pick_next|update_curr|select_task_rq|psi_|ep_poll|__wake_up|irqentry_exit|hrtimer)/)
      return "kernel: context switches, wake-ups, epoll, futex"
    return "kernel: syscalls and loopback TCP (both ends' softirq work lands here)"
  }
  if (sym ~ /zerolog/) return "access log (zerolog)"
  if (sym ~ /prometheus|internal\/admin/) return "metrics (admin.Observe, prometheus)"
  if (sym ~ /crypto\/|gcmAes|aesEnc|aesDec|gcmInc/) return "TLS to the upstream (crypto/tls, AES-GCM)"
  if (sym ~ /dbaas-proxy\/dbaas-proxy|gorilla\/mux|^main\./) return "dbaas-proxy's own code and gorilla/mux"
  if (sym ~ /^(internal\/runtime\/gc|gcWriteBarrier|expandAVX512)/) return "Go runtime: allocation and GC"
  if (sym ~ /^runtime\.(malloc|newobject|makeslice|makemap|growslice|memclr|\(\*(mspan|mcache|mcentral|mheap|spanSet|gcWork|gcBits|pageAlloc|sweepLocked|unwinder|gcControllerState|stackScanState)\)|scan|gc|greyobject|markBits|heapBits|heapSetType|findObject|tryDefer|sweep|wbBuf|bulkBarrier|typePointers|pcvalue|step$|funcInfo|markroot|shade|bgsweep|nextFreeFast|deductAssist|publicationBarrier|spanOf|writeHeapBits|moveInline|readvarint|findfunc|funcspdelta|stack|newstack|copystack|morestack)/)
    return "Go runtime: allocation and GC"
  if (sym ~ /^(runtime\.|__vdso|time\.|sync\.|sync\/atomic|internal\/sync|internal\/runtime\/(atomic|syscall)|internal\/chacha8rand|internal\/godebug|syscall\.|gogo|mcall|morestack)/ && sym !~ /^runtime\.(map|mem|cmpstring|concatstring|slicebytetostring|stringtoslicebyte|intstring|rawstring|efaceeq|ifaceeq|typehash|strhash|convT|assertE2I|getitab|typeAssert)/)
    return "Go runtime: scheduling, netpoll, channels, locks, clock, syscall entry"
  if (sym ~ /^(internal\/runtime\/maps|runtime\.|aeshash|memeqbody|indexbyte|cmpbody|countbyte|strings\.|bytes\.|unicode|strconv\.|sort\.|slices\.|internal\/(bytealg|strconv|stringslite)|type:\.)/)
    return "maps, strings, copies (mostly header handling)"
  if (sym ~ /^(net\/|net\.|bufio\.|mime|internal\/poll|io\.|context\.|errors\.|fmt\.)/)
    return "net/http, httputil, textproto, bufio, context"
  return "other"
}

/^#/ || NF < 3 { next }
$1 ~ /%$/ {
  pct = $1
  sub(/%$/, "", pct)
  c = category($2, $3)
  share[c] += pct
  total += pct
}
END {
  print "| category | share of samples | µs/req |"
  print "|---|--:|--:|"
  n = 0
  for (c in share) names[++n] = c
  for (i = 1; i <= n; i++)          # sort by share, largest first
    for (j = i + 1; j <= n; j++)
      if (share[names[j]] > share[names[i]]) { t = names[i]; names[i] = names[j]; names[j] = t }
  for (i = 1; i <= n; i++)
    printf "| %s | %.1f %% | %s |\n", names[i], share[names[i]],
      (us > 0 && total > 0) ? sprintf("%.1f", us * share[names[i]] / total) : "–"
}
