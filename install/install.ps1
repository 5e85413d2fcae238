<#
.SYNOPSIS
  Installs callhook for the current Windows user and hooks it into MicroSIP.

.DESCRIPTION
  Copies callhook.exe and callhookw.exe (from this script's folder, or -From) to
  %LOCALAPPDATA%\Programs\callhook, writes a starter config to %APPDATA%\callhook\config.toml
  when there is none, then runs `callhook install`, which sets MicroSIP's hook keys (MicroSIP
  must not be running). Run it again to upgrade: the programs are replaced, the config and the
  call log are kept. To remove callhook: install.ps1 -Uninstall.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Ini "D:\MicroSIP\microsip.ini"
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall
#>
param(
    [string]$From = $PSScriptRoot,
    [string]$Ini = "",
    [switch]$Legacy,
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"

$target = Join-Path $env:LOCALAPPDATA "Programs\callhook"
$exe = Join-Path $target "callhook.exe"
$configDir = Join-Path $env:APPDATA "callhook"
$config = Join-Path $configDir "config.toml"
$iniArgs = @()
if ($Ini -ne "") { $iniArgs = @("--ini", $Ini) }

if ($Uninstall) {
    if (Test-Path $exe) {
        & $exe uninstall @iniArgs
        if ($LASTEXITCODE -ne 0) { throw "callhook uninstall failed (exit $LASTEXITCODE): see above" }
        Remove-Item -Recurse -Force $target
        Write-Host "Removed $target."
    } else {
        Write-Host "callhook is not installed in $target."
    }
    Write-Host "Kept the config ($configDir) and the call log ($(Join-Path $env:LOCALAPPDATA 'callhook')): delete them by hand if they should go too."
    exit 0
}

foreach ($name in "callhook.exe", "callhookw.exe") {
    if (-not (Test-Path (Join-Path $From $name))) {
        throw "$name is not in $($From); give the folder with both programs as -From"
    }
}
if (Get-Process -Name microsip -ErrorAction SilentlyContinue) {
    throw "MicroSIP is running. Exit it (menu > Exit), then run this again: it writes its hook keys back when it exits."
}

New-Item -ItemType Directory -Force -Path $target | Out-Null
foreach ($name in "callhook.exe", "callhookw.exe") {
    Copy-Item -Force (Join-Path $From $name) (Join-Path $target $name)
}
Write-Host "Copied callhook.exe and callhookw.exe to $target."

if (-not (Test-Path $config)) {
    New-Item -ItemType Directory -Force -Path $configDir | Out-Null
    @"
# callhook configuration: see config.example.toml for every key.
# Uncomment and edit what you need; a missing key keeps its default.

[numbers]
# country_code = "49"

# [[webhook]]
# name = "crm"
# url = "https://crm.example.com/hooks/calls"
# secret = "whsec_..."

# [popup]
# url = "https://crm.example.com/search?phone={number}"
"@ | Set-Content -Encoding UTF8 -Path $config
    Write-Host "Wrote a starter config: $config"
} else {
    Write-Host "Kept the existing config: $config"
}

$installArgs = @("install") + $iniArgs
if ($Legacy) { $installArgs += "--legacy" }
& $exe @installArgs
if ($LASTEXITCODE -ne 0) { throw "callhook install failed (exit $LASTEXITCODE): see above" }
& $exe doctor @iniArgs
Write-Host "Done. Start MicroSIP; every call is now logged. 'callhook calls' lists them."
