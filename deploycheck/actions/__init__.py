"""What a verdict can make the suite do, outside pytest: roll a failed service back (`rollback`), as its
`rollback` section says. `plan` reads the cluster and says exactly what would change; `strategies` changes it;
`verify` waits for the result and judges it with the suite's own rules."""
