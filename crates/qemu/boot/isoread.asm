; isoread.asm - isotune's built-in firmware boot workload.
;
; An El Torito no-emulation BIOS boot program (16-bit real mode). The BIOS
; loads it (one 2048-byte CD sector, 4 virtual sectors) to 0000:7C00. It
; reads a payload file from the CD with INT 13h AH=42h in 32 KiB requests,
; reporting progress on COM1, then powers the VM off. It measures exactly
; what the firmware phase of an ISO boot costs on a given cdrom bus:
; SeaBIOS's INT 13h path, without any bootloader in between.
;
; Serial lines (115200 8N1, each ending in CR LF):
;   isotune: start               first line, before any read
;   isotune: read N KiB          after every 16 MiB
;   isotune: done                after the last read
;   isotune: error AH=xx         a read failed (xx = INT 13h status, hex)
;
; The builder (crates/qemu/src/workload/firmware.rs) patches the parameter
; block at offset 8: the magic "ISOTUNE1", then the payload's first LBA and
; its length in 2048-byte sectors (both little-endian u32).
;
; Power off: ACPI PM1a_CNT at 0x604 (SeaBIOS's PM base on pc and q35) with
; SLP_EN and SLP_TYP 0, which QEMU turns into a shutdown request (a pause
; under `-action shutdown=pause`). If the VM still runs about half a
; second later, isa-debug-exit at 0xF4 (QEMU exits with status 1 after
; "done", 3 after an error), and finally cli/hlt forever.
;
; Assemble with scripts/build-bootprog; the committed isoread.bin must stay
; byte-identical to what nasm makes of this file (a test checks it).

bits 16
cpu 386
org 0x7C00

CHUNK_SECTORS   equ 16            ; 16 x 2048 bytes = 32 KiB per request
BUF_SEG         equ 0x1000        ; read buffer 1000:0000, overwritten
REPORT_MASK     equ 8192 - 1      ; progress line every 8192 sectors (16 MiB)
COM1            equ 0x3F8
PM1A_CNT        equ 0x604
DEBUG_EXIT      equ 0xF4
BDA_TICKS       equ 0x046C        ; BIOS timer tick count, 18.2 Hz

start:
    jmp 0x0000:main               ; SeaBIOS enters at 07C0:0000; use CS=0
    times 8 - ($ - $$) db 0

params:
    db "ISOTUNE1"
payload_lba:      dd 0
payload_sectors:  dd 0

main:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    cld
    mov [boot_drive], dl

    call serial_init
    mov si, msg_start
    call puts

    mov eax, [payload_lba]
    mov [dap_lba], eax
    mov eax, [payload_sectors]
    mov [remaining], eax

.next:
    mov eax, [remaining]
    test eax, eax
    jz .done
    mov ecx, CHUNK_SECTORS
    cmp eax, ecx
    jae .full
    mov ecx, eax
.full:
    mov [chunk], cx
    mov [dap_count], cx
    mov word [dap_offset], 0
    mov word [dap_segment], BUF_SEG
    mov si, dap
    mov dl, [boot_drive]
    mov ah, 0x42
    int 0x13
    jc .error
    movzx eax, word [chunk]
    add [dap_lba], eax
    adc dword [dap_lba + 4], 0
    sub [remaining], eax
    add [done_sectors], eax
    mov eax, [done_sectors]
    test eax, REPORT_MASK
    jnz .next
    mov si, msg_read
    call puts
    mov eax, [done_sectors]
    shl eax, 1                    ; 2048-byte sectors -> KiB
    call put_dec
    mov si, msg_kib
    call puts
    jmp .next

.done:
    mov si, msg_done
    call puts
    xor al, al
    jmp poweroff

.error:
    mov bl, ah
    mov si, msg_error
    call puts
    mov al, bl
    call put_hex8
    mov si, msg_crlf
    call puts
    mov al, 1

; Powers off; AL is the isa-debug-exit value (status 2*AL+1).
poweroff:
    mov [exit_value], al
    mov dx, PM1A_CNT
    mov ax, 0x2000                ; SLP_EN, SLP_TYP 0 (S5 in QEMU's DSDT)
    out dx, ax
    ; QEMU handles the request asynchronously: give it time to stop the VM
    ; before trying isa-debug-exit, which would end QEMU before the runner
    ; reads its block statistics.
    sti
    mov ebx, [BDA_TICKS]
.wait:
    hlt
    mov eax, [BDA_TICKS]
    sub eax, ebx
    cmp eax, 10
    jb .wait
    mov al, [exit_value]
    out DEBUG_EXIT, al
.halt:
    cli
    hlt
    jmp .halt

; COM1: 115200 baud (divisor 1), 8N1, FIFO on, no interrupts.
serial_init:
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 2
    mov al, 0xC7
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x03
    out dx, al
    ret

; Writes AL to COM1 once the transmitter holding register is empty.
putc:
    push dx
    push ax
    mov dx, COM1 + 5
.busy:
    in al, dx
    test al, 0x20
    jz .busy
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret

; Writes the NUL-terminated string at DS:SI.
puts:
    lodsb
    test al, al
    jz .end
    call putc
    jmp puts
.end:
    ret

; Writes EAX in decimal.
put_dec:
    mov ebx, 10
    xor cx, cx
.div:
    xor edx, edx
    div ebx
    push dx
    inc cx
    test eax, eax
    jnz .div
.out:
    pop ax
    add al, '0'
    call putc
    loop .out
    ret

; Writes AL as two hex digits.
put_hex8:
    push ax
    shr al, 4
    call .digit
    pop ax
    and al, 0x0F
.digit:
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .emit
    add al, 'A' - '9' - 1
.emit:
    jmp putc

msg_start:  db "isotune: start", 13, 10, 0
msg_read:   db "isotune: read ", 0
msg_kib:    db " KiB"
msg_crlf:   db 13, 10, 0
msg_done:   db "isotune: done", 13, 10, 0
msg_error:  db "isotune: error AH=", 0

align 4
dap:                              ; INT 13h extensions disk address packet
    db 16, 0
dap_count:    dw 0
dap_offset:   dw 0
dap_segment:  dw 0
dap_lba:      dq 0
remaining:    dd 0
done_sectors: dd 0
chunk:        dw 0
boot_drive:   db 0
exit_value:   db 0

%if ($ - $$) > 2048
%error "isoread is larger than the 2 KiB the BIOS loads"
%endif
    times 2048 - ($ - $$) db 0
