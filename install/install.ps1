<#
.SYNOPSIS
  Installs callhook for the current Windows user and hooks it into MicroSIP.

.DESCRIPTION
  Copies callhook.exe and callhookw.exe (from this script's folder, or -From) to
  %LOCALAPPDATA%\Programs\callhook, writes a starter config to %APPDATA%\callhook\config.toml
  when there is none, then runs `callhook install`, which sets MicroSIP's hook keys (MicroSIP
  must not be running) and `callhook doctor`. Run it again to upgrade: the programs are
  replaced (a running background worker does not block that), the config and the call log
  are kept. With -Serve it also runs `callhook serve` (the local API, live events and the
  dashboard on http://127.0.0.1:8765) at every logon of this user, from a scheduled task. To
  remove callhook: install.ps1 -Uninstall.

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
.PARAMETER Serve
  Register the scheduled task "callhook serve" for the current user: `callhook serve` starts at
  each logon of this user, with this user's limited rights, without a console window, with no
  time limit, and is started again a minute after it fails. It is started at once, too. Once
  registered, the task is kept (and restarted with the new program) by every later run of this
  script, -Serve or not; -Uninstall removes it.
.PARAMETER Uninstall
  Take callhook's hook keys out of microsip.ini, remove the "callhook deliver" and
  "callhook serve" scheduled tasks and the programs. The config and the call log stay.

.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Ini "D:\MicroSIP\microsip.ini" -DryRun
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Serve
.EXAMPLE
  powershell -ExecutionPolicy Bypass -File install.ps1 -Uninstall
#>
param(
    [string]$From = $PSScriptRoot,
    [string]$Ini = "",
    [switch]$Legacy,
    [switch]$Force,
    [switch]$DryRun,
    [switch]$Serve,
    [switch]$Uninstall
)
$ErrorActionPreference = "Stop"

$target = Join-Path $env:LOCALAPPDATA "Programs\callhook"
$exe = Join-Path $target "callhook.exe"
$configDir = Join-Path $env:APPDATA "callhook"
$config = Join-Path $configDir "config.toml"
$dataDir = Join-Path $env:LOCALAPPDATA "callhook"
$taskName = "callhook deliver"
$serveTask = "callhook serve"
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

function Test-Task([string]$name) {
    # The ScheduledTasks module is there from Windows 8; schtasks.exe everywhere.
    if (Get-Command Get-ScheduledTask -ErrorAction SilentlyContinue) {
        return [bool](Get-ScheduledTask -TaskName $name -ErrorAction SilentlyContinue)
    }
    $previous = $ErrorActionPreference
    $ErrorActionPreference = "Continue"
    & schtasks.exe /Query /TN $name 2>&1 | Out-Null
    $found = ($LASTEXITCODE -eq 0)
    $ErrorActionPreference = $previous
    return $found
}

function Invoke-Schtasks([string]$what) {
    # schtasks.exe with the arguments after $what; throws with its output when it fails.
    $previous = $ErrorActionPreference
    $ErrorActionPreference = "Continue"
    $output = & schtasks.exe @args 2>&1
    $code = $LASTEXITCODE
    $ErrorActionPreference = $previous
    if ($code -ne 0) { throw "cannot $what (schtasks exit $code): $output" }
}

function Remove-Task([string]$name) {
    if (-not (Test-Task $name)) { return }
    if ($DryRun) {
        Write-Host "Would remove the scheduled task `"$name`"."
        return
    }
    if (Get-Command Unregister-ScheduledTask -ErrorAction SilentlyContinue) {
        Unregister-ScheduledTask -TaskName $name -Confirm:$false
    } else {
        Invoke-Schtasks "remove the scheduled task `"$name`"" /Delete /TN $name /F
    }
    Write-Host "Removed the scheduled task `"$name`"."
}

function Get-ServeTaskXml {
    # The task "callhook serve", as Task Scheduler's XML, so that the ScheduledTasks module and
    # schtasks.exe register the same task (schtasks' own options cannot set a restart on
    # failure, no time limit, or a logon trigger for one user, which a user without admin
    # rights may only register for themselves).
    #
    # It runs callhookw.exe serve, not callhook.exe serve: callhook.exe is a console program,
    # and Task Scheduler would open a console window for it at every logon. callhookw.exe is a
    # windowless (GUI-subsystem) program that hands any command but `event` to callhook.exe
    # beside it, started without a console (CREATE_NO_WINDOW), waits for it and exits with its
    # exit code, so a failed serve is a failed task. This is how the worker is started too, and
    # needs nothing else: `conhost.exe --headless` is undocumented and not on every Windows 10,
    # and a PowerShell wrapper with -WindowStyle Hidden still shows its window for a moment.
    $user = [System.Security.Principal.WindowsIdentity]::GetCurrent().Name
    $e = { param($text) [System.Security.SecurityElement]::Escape($text) }
    $command = & $e (Join-Path $target "callhookw.exe")
    $folder = & $e $target
    $who = & $e $user
    return @"
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>callhook serve: the call log's local API, live events and dashboard (http://127.0.0.1:8765). Installed by install.ps1 -Serve.</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>$who</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>$who</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>false</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>255</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>$command</Command>
      <Arguments>serve</Arguments>
      <WorkingDirectory>$folder</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"@
}

function Register-ServeTask {
    if ($DryRun) {
        Write-Host "Would register the scheduled task `"$serveTask`": callhookw.exe serve at each logon of $([System.Security.Principal.WindowsIdentity]::GetCurrent().Name)."
        return
    }
    $xml = Get-ServeTaskXml
    if (Get-Command Register-ScheduledTask -ErrorAction SilentlyContinue) {
        Register-ScheduledTask -TaskName $serveTask -Xml $xml -Force | Out-Null
    } else {
        # schtasks.exe reads the XML from a file, in UTF-16 as it declares.
        $file = Join-Path ([System.IO.Path]::GetTempPath()) "callhook-serve-task.xml"
        [System.IO.File]::WriteAllText($file, $xml, [System.Text.Encoding]::Unicode)
        try {
            Invoke-Schtasks "register the scheduled task `"$serveTask`"" /Create /TN $serveTask /XML $file /F
        } finally {
            Remove-Item -Force $file -ErrorAction SilentlyContinue
        }
    }
    Write-Host "Registered the scheduled task `"$serveTask`": callhook serve runs at each logon."
}

function Stop-ServeTask {
    # Ends the task's run, then the server itself: callhookw.exe waits for callhook.exe serve,
    # which is not always ended with it. Its process id is in serve.json beside the config.
    if (Get-Command Stop-ScheduledTask -ErrorAction SilentlyContinue) {
        Stop-ScheduledTask -TaskName $serveTask -ErrorAction SilentlyContinue
    } else {
        $previous = $ErrorActionPreference
        $ErrorActionPreference = "Continue"
        & schtasks.exe /End /TN $serveTask 2>&1 | Out-Null
        $ErrorActionPreference = $previous
    }
    $state = Join-Path $configDir "serve.json"
    if (Test-Path $state) {
        try {
            $id = (Get-Content -Raw $state | ConvertFrom-Json).pid
            $process = Get-Process -Id $id -ErrorAction SilentlyContinue
            if ($process -and $process.Path -and $process.Path.StartsWith($target, [System.StringComparison]::OrdinalIgnoreCase)) {
                Write-Host "Stopping callhook serve (process $id)."
                Stop-Process -Id $id -Force -ErrorAction SilentlyContinue
                Wait-Process -Id $id -Timeout 10 -ErrorAction SilentlyContinue
            }
        } catch {
            # A serve.json left by a server that is gone: nothing to stop.
        }
    }
}

function Start-ServeTask {
    if (Get-Command Start-ScheduledTask -ErrorAction SilentlyContinue) {
        Start-ScheduledTask -TaskName $serveTask
    } else {
        Invoke-Schtasks "start the scheduled task `"$serveTask`"" /Run /TN $serveTask
    }
    Write-Host "Started callhook serve: 'callhook dashboard' opens the dashboard."
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
    Remove-Task $taskName
    if (-not $DryRun -and (Test-Task $serveTask)) { Stop-ServeTask }
    Remove-Task $serveTask
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
    if ($Serve) {
        Register-ServeTask
    } elseif (Test-Task $serveTask) {
        Write-Host "Would restart the scheduled task `"$serveTask`" with the new program."
    }
    Write-Host "Dry run: nothing was changed."
    exit 0
}

# A server started by the "callhook serve" task runs from $target: stopped for the upgrade,
# started again with the new program below.
$serveTaskFound = Test-Task $serveTask
if ($serveTaskFound) { Stop-ServeTask }

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

# The server is started before the hook keys are set: it needs neither them nor MicroSIP.
if ($Serve) { Register-ServeTask }
if ($Serve -or $serveTaskFound) { Start-ServeTask }

$installArgs = @("install") + $commonArgs
if ($Legacy) { $installArgs += "--legacy" }
& $exe @installArgs
if ($LASTEXITCODE -ne 0) { throw "callhook install failed (exit $LASTEXITCODE): see above" }
& $exe doctor @iniArgs
if ($LASTEXITCODE -ne 0) { Write-Host "callhook doctor found something to fix: see above." }
Write-Host "Done. Start MicroSIP; every call is now logged. 'callhook calls' lists them."
