<#
.SYNOPSIS
  Run the DentalCare Connect sync server as a Windows service (with NSSM). See docs/DEPLOY.md.

.DESCRIPTION
  clinic-server is a console program, not a native Windows service: `sc.exe create` alone would start
  it and kill it after 30 s (error 1053). NSSM (https://nssm.cc) wraps it as a service, restarts it if
  it exits, sends Ctrl+C on stop (the server then stops its embedded PostgreSQL cleanly) and rotates
  its log. Run from an elevated PowerShell:

    .\install-service.ps1 -Nssm C:\Tools\nssm.exe
    .\install-service.ps1 -Nssm C:\Tools\nssm.exe -Remove

  By default it serves the bundle's own server (`clinic-desktop.exe --run-server serve`) with the
  config in C:\ProgramData\DentalCare\clinic-server.toml and the data (embedded database, secret)
  in C:\ProgramData\DentalCare\data.
#>
param(
    [Parameter(Mandatory = $true)][string]$Nssm,
    [string]$InstallDir = "$env:ProgramFiles\DentalCare Connect",
    [string]$DataRoot = "$env:ProgramData\DentalCare",
    [string]$ServiceName = "DentalCareServer",
    [int]$Port = 8765,
    [switch]$Remove
)
$ErrorActionPreference = "Stop"

if (-not (Test-Path $Nssm)) { throw "nssm.exe not found at $Nssm (download it from https://nssm.cc)" }

if ($Remove) {
    & $Nssm stop $ServiceName confirm | Out-Null
    & $Nssm remove $ServiceName confirm
    Write-Host "Removed the $ServiceName service. The data in $DataRoot is kept."
    return
}

$exe = Join-Path $InstallDir "clinic-desktop.exe"
if (-not (Test-Path $exe)) { throw "clinic-desktop.exe not found in $InstallDir (install DentalCare Connect first, or pass -InstallDir)" }

New-Item -ItemType Directory -Force -Path $DataRoot, "$DataRoot\data", "$DataRoot\logs", "$DataRoot\backups" | Out-Null
$config = Join-Path $DataRoot "clinic-server.toml"
if (-not (Test-Path $config)) {
    $example = Join-Path $InstallDir "server\clinic-server.toml"
    (Get-Content $example) `
        -replace '^data_dir = .*$', ('data_dir = ''' + "$DataRoot\data" + '''') `
        -replace '^port = .*$', "port = $Port" | Set-Content -Encoding UTF8 $config
    Write-Host "Wrote $config (edit it, then: Restart-Service $ServiceName)"
}

& $Nssm install $ServiceName $exe --run-server serve --config $config
& $Nssm set $ServiceName DisplayName "DentalCare Connect sync server"
& $Nssm set $ServiceName Description "Keeps the clinic's schedule in sync (WebSocket on port $Port)."
& $Nssm set $ServiceName AppDirectory $DataRoot
& $Nssm set $ServiceName Start SERVICE_AUTO_START
# Local Service: no admin rights (PostgreSQL refuses to run with them) and no network credentials.
& $Nssm set $ServiceName ObjectName "NT AUTHORITY\LocalService"
& $Nssm set $ServiceName AppStopMethodConsole 20000
& $Nssm set $ServiceName AppStdout "$DataRoot\logs\clinic-server.log"
& $Nssm set $ServiceName AppStderr "$DataRoot\logs\clinic-server.log"
& $Nssm set $ServiceName AppRotateFiles 1
& $Nssm set $ServiceName AppRotateBytes 10485760
& $Nssm set $ServiceName AppExit Default Restart

# Local Service must be able to write its data and logs.
icacls $DataRoot /grant "NT AUTHORITY\LocalService:(OI)(CI)M" | Out-Null

# Clinic PCs connect over the LAN.
if (-not (Get-NetFirewallRule -DisplayName "DentalCare Connect server" -ErrorAction SilentlyContinue)) {
    New-NetFirewallRule -DisplayName "DentalCare Connect server" -Direction Inbound -Protocol TCP `
        -LocalPort $Port -Action Allow -Profile Domain,Private | Out-Null
}

& $Nssm start $ServiceName
Write-Host "Started $ServiceName. Health check: http://localhost:$Port/healthz"
