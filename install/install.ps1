<#
.SYNOPSIS
  Installs callhook for the current Windows user and hooks it into MicroSIP.

.DESCRIPTION
  Copies callhook.exe and callhookw.exe (from this script's folder, or -From) to
  %LOCALAPPDATA%\Programs\callhook, writes a starter config to %APPDATA%\callhook\config.toml
  when there is none, then runs `callhook install`, which sets MicroSIP's hook keys (MicroSIP
  must not be running) and `callhook doctor`. Run it again to upgrade: the programs are
  replaced (a running background worker does not block that), the config and the call log
  are kept. To remove callhook: install.ps1 -Uninstall.

  Works with Windows PowerShell 5.1 and PowerShell 7.

.PARAMETER From
  The folder with the new callhook.exe and callhookw.exe (default: this script's folder).
.PARAMETER Ini
  MicroSIP's ini, when callhook cannot find it (a portable MicroSIP somewhere else).
.PARAMETER Legacy
  For MicroSIP 3.19.2 and earlier: one callhook-<event>.exe copy per event.
.PARAMETER Force
  Go on while MicroSIP runs (it writes its old hook keys back when it exits).
.PARAMETER DryRun
  Show what would be done, and change nothing.
.PARAMETER Uninstall
  Take callhook's hook keys out of microsip.ini, remove the "callhook deliver" scheduled task
  and the programs. The config and the call log stay.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Ini "D:\MicroSIP\microsip.ini" -DryRun
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall
#>
param(
    [string]$From = $PSScriptRoot,
    [string]$Ini = "",
    [switch]$Legacy,
    [switch]$Force,
    [switch]$DryRun,
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"

$target = Join-Path $env:LOCALAPPDATA "Programs\callhook"
$exe = Join-Path $target "callhook.exe"
$configDir = Join-Path $env:APPDATA "callhook"
$config = Join-Path $configDir "config.toml"
$dataDir = Join-Path $env:LOCALAPPDATA "callhook"
$taskName = "callhook deliver"
$programs = @("callhook.exe", "callhookw.exe")

# Options passed on to callhook.
$iniArgs = @()
if ($Ini -ne "") { $iniArgs = @("--ini", $Ini) }
$commonArgs = @() + $iniArgs
if ($Force) { $commonArgs += "--force" }
if ($DryRun) { $commonArgs += "--dry-run" }

function Remove-OldCopies {
    # Programs renamed aside by an earlier upgrade while they ran; still running ones stay.
    if (Test-Path $target) {
        Get-ChildItem -Path $target -Filter "*.old*" -ErrorAction SilentlyContinue |
            ForEach-Object { Remove-Item -Force $_.FullName -ErrorAction SilentlyContinue }
    }
}

function Test-MicroSipRunning {
    $running = Get-Process -Name microsip -ErrorAction SilentlyContinue
    if ($Ini -ne "") {
        # A portable MicroSIP reads <its exe name>.ini.
        $name = [System.IO.Path]::GetFileNameWithoutExtension($Ini)
        $portableExe = [System.IO.Path]::ChangeExtension($Ini, ".exe")
        if ((Test-Path $portableExe) -and ($name -ne "microsip")) {
            $running = @($running) + @(Get-Process -Name $name -ErrorAction SilentlyContinue)
        }
    }
    return (@($running | Where-Object { $_ }).Count -gt 0)
}

function Get-DeliverTask {
    # The ScheduledTasks module is there from Windows 8; schtasks.exe everywhere.
    if (Get-Command Get-ScheduledTask -ErrorAction SilentlyContinue) {
        return [bool](Get-ScheduledTask -TaskName $taskName -ErrorAction SilentlyContinue)
    }
    $previous = $ErrorActionPreference
    $ErrorActionPreference = "Continue"
    & schtasks.exe /Query /TN $taskName 2>&1 | Out-Null
    $found = ($LASTEXITCODE -eq 0)
    $ErrorActionPreference = $previous
    return $found
}

function Remove-DeliverTask {
    if (-not (Get-DeliverTask)) { return }
    if ($DryRun) {
        Write-Host "Would remove the scheduled task `"$taskName`"."
        return
    }
    if (Get-Command Unregister-ScheduledTask -ErrorAction SilentlyContinue) {
        Unregister-ScheduledTask -TaskName $taskName -Confirm:$false
    } else {
        $previous = $ErrorActionPreference
        $ErrorActionPreference = "Continue"
        & schtasks.exe /Delete /TN $taskName /F 2>&1 | Out-Null
        $code = $LASTEXITCODE
        $ErrorActionPreference = $previous
        if ($code -ne 0) { throw "cannot remove the scheduled task `"$taskName`" (schtasks exit $code)" }
    }
    Write-Host "Removed the scheduled task `"$taskName`"."
}

function Stop-Workers {
    # A background `callhook deliver` from this folder: it would keep its files in use.
    Get-Process -Name callhook, callhookw -ErrorAction SilentlyContinue |
        Where-Object { $_.Path -and $_.Path.StartsWith($target, [System.StringComparison]::OrdinalIgnoreCase) } |
        ForEach-Object {
            Write-Host "Stopping $($_.Path) (process $($_.Id)); its pending deliveries stay queued."
            Stop-Process -Id $_.Id -Force -ErrorAction SilentlyContinue
        }
}

if ($Uninstall) {
    if (Test-Path $exe) {
        & $exe uninstall @commonArgs
        if ($LASTEXITCODE -ne 0) { throw "callhook uninstall failed (exit $LASTEXITCODE): see above" }
    } else {
        Write-Host "callhook.exe is not in $target, so MicroSIP's hook keys were not checked."
        Write-Host "If MicroSIP still runs callhook on calls (doctor would say so), either run"
        Write-Host "  callhook uninstall"
        Write-Host "from wherever callhook.exe is now, or, with MicroSIP closed, put back the backup"
        Write-Host "microsip.ini.callhook-backup-* beside microsip.ini, or clear the cmd* keys under"
        Write-Host "[Settings] in microsip.ini (%APPDATA%\MicroSIP\microsip.ini, or next to a portable microsip.exe)."
    }
    Remove-DeliverTask
    if (Test-Path $target) {
        if ($DryRun) {
            Write-Host "Would remove $target."
        } else {
            Stop-Workers
            try {
                Remove-Item -Recurse -Force $target
                Write-Host "Removed $target."
            } catch {
                Write-Host "Could not remove all of $target ($($_.Exception.Message)): delete it after the next sign-in."
            }
        }
    }
    Write-Host "Kept the config ($configDir) and the call log ($dataDir): delete them by hand if they should go too."
    exit 0
}

foreach ($name in $programs) {
    if (-not (Test-Path (Join-Path $From $name))) {
        throw "$name is not in $($From); give the folder with both programs as -From"
    }
}
if ((-not $Force) -and (-not $DryRun) -and (Test-MicroSipRunning)) {
    throw "MicroSIP is running. Exit it (menu > Exit), then run this again: it writes its hook keys back when it exits. (-Force goes on anyway.)"
}

if ($DryRun) {
    Write-Host "Would copy callhook.exe and callhookw.exe from $From to $target."
    if (-not (Test-Path $config)) { Write-Host "Would write a starter config: $config" }
    if (Test-Path $exe) {
        # An upgrade: the hook keys point at the programs in $target already.
        $runner = $exe
    } else {
        $runner = Join-Path $From "callhook.exe"
        Write-Host "(The hook keys below would name $target\callhookw.exe, not $From.)"
    }
    $installArgs = @("install") + $commonArgs
    if ($Legacy) { $installArgs += "--legacy" }
    & $runner @installArgs
    if ($LASTEXITCODE -ne 0) { throw "callhook install --dry-run failed (exit $LASTEXITCODE): see above" }
    Write-Host "Dry run: nothing was changed."
    exit 0
}

New-Item -ItemType Directory -Force -Path $target | Out-Null
Remove-OldCopies
foreach ($name in $programs) {
    $source = (Resolve-Path (Join-Path $From $name)).Path
    $destination = Join-Path $target $name
    if ((Test-Path $destination) -and ($source -eq (Resolve-Path $destination).Path)) {
        continue  # run from the installed folder itself
    }
    if (Test-Path $destination) {
        # A running program (a background `callhook deliver`) cannot be overwritten, but it can
        # be renamed: the old file goes aside and is deleted by a later run once it has exited.
        $aside = "$destination.old"
        if (Test-Path $aside) {
            Remove-Item -Force $aside -ErrorAction SilentlyContinue
            if (Test-Path $aside) { $aside = "$destination.old-$([DateTime]::Now.ToString('yyyyMMddHHmmss'))" }
        }
        Move-Item -Force $destination $aside
    }
    Copy-Item -Force $source $destination
}
Remove-OldCopies
Write-Host "Copied callhook.exe and callhookw.exe to $target."

if (-not (Test-Path $config)) {
    New-Item -ItemType Directory -Force -Path $configDir | Out-Null
    $starter = @"
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
"@
    # UTF-8 without a byte-order mark (Set-Content -Encoding UTF8 writes one in PowerShell 5.1).
    [System.IO.File]::WriteAllText($config, $starter, (New-Object System.Text.UTF8Encoding($false)))
    Write-Host "Wrote a starter config: $config"
} else {
    Write-Host "Kept the existing config: $config"
}

$installArgs = @("install") + $commonArgs
if ($Legacy) { $installArgs += "--legacy" }
& $exe @installArgs
if ($LASTEXITCODE -ne 0) { throw "callhook install failed (exit $LASTEXITCODE): see above" }
& $exe doctor @iniArgs
if ($LASTEXITCODE -ne 0) { Write-Host "callhook doctor found something to fix: see above." }
Write-Host "Done. Start MicroSIP; every call is now logged. 'callhook calls' lists them."
